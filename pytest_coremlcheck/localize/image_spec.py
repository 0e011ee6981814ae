"""A converted model's image preprocessing, read from its spec and edited in place of a
re-conversion (for a model given as a file, whose ``ct.convert`` arguments are unknown).

Where ``ct.ImageType(scale, bias, color_layout)`` ends up:

- colour layout: ``description.input[i].type.imageType.colorSpace`` (RGB, BGR, GRAYSCALE);
- NeuralNetwork: ``neuralNetwork*.preprocessing[i].scaler`` (``channelScale``, and
  ``redBias``/``greenBias``/``blueBias`` or ``grayBias``: biases by colour);
- ML program: a ``mul`` of the input by a const (``<input>__scaled__``), then an ``add`` of a
  const (``<input>__biased__``, shape (1, C, 1, 1)); either is absent when the scale is 1 or
  the bias 0, and is then inserted.

Biases are handled as ``ct.ImageType`` takes them: one per channel in the layout's order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR"}
_NN_KINDS = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")


@dataclass
class ImagePreprocessing:
    """One image input's preprocessing, in ``ct.ImageType`` terms."""

    name: str
    scale: float
    bias: float | list[float]
    color_layout: str


def image_inputs(spec) -> list[ImagePreprocessing]:
    """The preprocessing of every RGB, BGR or grayscale image input of ``spec``."""
    found = []
    for feature in spec.description.input:
        if feature.type.WhichOneof("Type") != "imageType":
            continue
        layout = _SPACES.get(feature.type.imageType.colorSpace, "RGB")
        scale, bias = _read(spec, feature.name, layout)
        found.append(ImagePreprocessing(feature.name, scale, bias, layout))
    return found


def with_preprocessing(spec, name: str, scale: float, bias, layout: str):
    """A copy of ``spec`` whose image input ``name`` computes ``scale · pixel + bias`` on
    channels in ``layout`` (bias: one per channel in that order, or one number)."""
    edited = copy.deepcopy(spec)
    feature = next(f for f in edited.description.input if f.name == name)
    feature.type.imageType.colorSpace = {v: k for k, v in _SPACES.items()}[layout]
    channels = 1 if layout == "GRAYSCALE" else 3
    biases = [float(b) for b in bias] if isinstance(bias, (list, tuple)) else \
        [float(bias)] * channels
    kind = edited.WhichOneof("Type")
    if kind in _NN_KINDS:
        _write_scaler(getattr(edited, kind), name, scale, biases, layout)
    elif kind == "mlProgram":
        _write_program(edited.mlProgram, name, scale, biases)
    return edited


def _read(spec, name: str, layout: str) -> tuple[float, float | list[float]]:
    kind = spec.WhichOneof("Type")
    if kind in _NN_KINDS:
        return _read_scaler(getattr(spec, kind), name, layout)
    if kind == "mlProgram":
        return _read_program(spec.mlProgram, name)
    return 1.0, 0.0


def _scaler_entry(network, name: str, create: bool):
    for entry in network.preprocessing:
        if entry.featureName in (name, ""):
            return entry
    if not create:
        return None
    entry = network.preprocessing.add()
    entry.featureName = name
    return entry


def _read_scaler(network, name: str, layout: str):
    entry = _scaler_entry(network, name, create=False)
    if entry is None or entry.WhichOneof("preprocessor") != "scaler":
        return 1.0, 0.0
    s = entry.scaler
    scale = s.channelScale if s.channelScale != 0 else 1.0
    if layout == "GRAYSCALE":
        return scale, s.grayBias
    by_colour = {"R": s.redBias, "G": s.greenBias, "B": s.blueBias}
    return scale, [by_colour[c] for c in _order(layout)]


def _write_scaler(network, name: str, scale: float, biases: list[float], layout: str) -> None:
    s = _scaler_entry(network, name, create=True).scaler
    s.channelScale = scale
    if layout == "GRAYSCALE":
        s.grayBias = biases[0]
        return
    for colour, value in zip(_order(layout), biases):
        setattr(s, {"R": "redBias", "G": "greenBias", "B": "blueBias"}[colour], value)


def _order(layout: str) -> str:
    return "RGB" if layout == "RGB" else "BGR"


# ------------------------------------------------------------------ ML programs


def _main_block(program):
    function = program.functions["main"] if "main" in program.functions else \
        next(iter(program.functions.values()))
    return function, function.block_specializations[function.opset]


def _affine_ops(block, name: str):
    """(scale const, mul op, bias const, add op) of input ``name``; None where absent."""
    consts = {op.outputs[0].name: op for op in block.operations if op.type == "const"}
    mul = _reader(block, "mul", name, consts)
    scaled = mul.outputs[0].name if mul is not None else name
    add = _reader(block, "add", scaled, consts)
    return _const_of(mul, consts), mul, _const_of(add, consts), add


def _const_of(op, consts):
    """The const op ``op`` reads as ``y`` (None when ``op`` is None)."""
    return consts[op.inputs["y"].arguments[0].name] if op is not None else None


def _reader(block, op_type: str, var: str, consts):
    for op in block.operations:
        if op.type != op_type or "x" not in op.inputs or "y" not in op.inputs:
            continue
        x, y = op.inputs["x"].arguments[0].name, op.inputs["y"].arguments[0].name
        if x == var and y in consts:
            return op
    return None


def _const_value(op) -> np.ndarray:
    """A float const's values (fp16 consts are stored as bytes)."""
    tensor = op.attributes["val"].immediateValue.tensor
    which = tensor.WhichOneof("value")
    if which == "bytes":
        return np.frombuffer(tensor.bytes.values, np.float16).astype(np.float32)
    return np.asarray(list(getattr(tensor, which).values), np.float32)


def _read_program(program, name: str):
    _, block = _main_block(program)
    scale_const, _, bias_const, _ = _affine_ops(block, name)
    scale = float(_const_value(scale_const)[0]) if scale_const is not None else 1.0
    if bias_const is None:
        return scale, 0.0
    values = [float(v) for v in _const_value(bias_const)]
    return scale, values if len(values) > 1 else values[0]


def _write_program(program, name: str, scale: float, biases: list[float]) -> None:
    from coremltools.converters.mil.backend.mil.helper import (
        create_scalar_value,
        create_tensor_value,
    )

    function, block = _main_block(program)
    scale_const, mul, bias_const, add = _affine_ops(block, name)
    scale_value = create_scalar_value(np.float32(scale))
    bias_value = create_tensor_value(np.asarray(biases, np.float32).reshape(1, -1, 1, 1))
    input_type = next(i.type for i in function.inputs if i.name == name)
    if scale_const is None:
        mul = _insert(block, "mul", name, f"{name}__scaled__", scale_value, input_type)
    else:
        scale_const.attributes["val"].CopyFrom(scale_value)
    if bias_const is None:
        _insert(block, "add", mul.outputs[0].name, f"{name}__biased__", bias_value, input_type)
    else:
        bias_const.attributes["val"].CopyFrom(bias_value)
        bias_const.outputs[0].type.CopyFrom(bias_value.type)


def _insert(block, op_type: str, source: str, output: str, value, value_type):
    """Insert ``output = op_type(x=source, y=const)`` right after ``source`` is produced, and
    make every later reader of ``source`` read ``output``; returns the new op."""
    from coremltools.converters.mil.backend.mil.helper import create_scalar_value
    from coremltools.proto import MIL_pb2

    const = MIL_pb2.Operation(type="const")
    const_name = f"{output}_y_0"
    const.attributes["name"].CopyFrom(create_scalar_value(const_name))
    const.attributes["val"].CopyFrom(value)
    const.outputs.add(name=const_name).type.CopyFrom(value.type)
    op = MIL_pb2.Operation(type=op_type)
    op.inputs["x"].arguments.add(name=source)
    op.inputs["y"].arguments.add(name=const_name)
    op.attributes["name"].CopyFrom(create_scalar_value(output))
    op.outputs.add(name=output).type.CopyFrom(value_type)
    for existing in block.operations:
        _rename_reads(existing, source, output)
    block.outputs[:] = [output if o == source else o for o in block.outputs]
    position = next((i + 1 for i, o in enumerate(block.operations)
                     if any(v.name == source for v in o.outputs)), 0)
    block.operations.insert(position, op)
    block.operations.insert(position, const)
    return block.operations[position + 1]


def _rename_reads(op, old: str, new: str) -> None:
    for argument in op.inputs.values():
        for binding in argument.arguments:
            if binding.WhichOneof("binding") == "name" and binding.name == old:
                binding.name = new
    for nested in op.blocks:
        for inner in nested.operations:
            _rename_reads(inner, old, new)
        nested.outputs[:] = [new if o == old else o for o in nested.outputs]
