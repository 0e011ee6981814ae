"""Helpers to hand-build and edit specs for the broken-spec tests."""

from __future__ import annotations

import numpy as np


def nn_spec(rank5: bool = True, version: int = 1):
    """A one-layer NeuralNetwork (innerProduct x(3) → y(2)), built without conversion."""
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", datatypes.Array(2))],
                                   disable_rank5_shape_mapping=not rank5)
    builder.add_inner_product("fc", np.ones((2, 3), np.float32), np.zeros(2, np.float32), 3, 2,
                              True, "x", "y")
    spec = builder.spec
    spec.specificationVersion = version
    return spec


def add_layer(spec, name: str, kind: str, inputs=("x",), outputs=("h",)):
    """Append a layer of oneof ``kind`` to an NN spec and return it."""
    network = spec.neuralNetwork
    layer = network.layers.add()
    layer.name = name
    layer.input.extend(inputs)
    layer.output.extend(outputs)
    getattr(layer, kind).SetInParent()
    return layer


def main_block(spec, function: str = "main"):
    f = spec.mlProgram.functions[function]
    return f.block_specializations[f.opset]


def find_op(spec, op_type: str, function: str = "main"):
    for op in main_block(spec, function).operations:
        if op.type == op_type:
            return op
    raise LookupError(op_type)


def tensor_type(value_type, dtype: int, shape=()):
    value_type.tensorType.dataType = dtype
    value_type.tensorType.rank = len(shape)
    for size in shape:
        value_type.tensorType.dimensions.add().constant.size = size


def add_op(spec, op_type: str, inputs: dict, outputs, *, immediate=None, function="main"):
    """Append an op: ``inputs`` key → bound var name; ``immediate`` key → (dtype, value);
    ``outputs`` [(name, dtype, shape)]."""
    op = main_block(spec, function).operations.add()
    op.type = op_type
    for key, name in inputs.items():
        op.inputs[key].arguments.add().name = name
    for key, (dtype, value) in (immediate or {}).items():
        binding = op.inputs[key].arguments.add()
        tensor_type(binding.value.type, dtype)
        tensor = binding.value.immediateValue.tensor
        if isinstance(value, str):
            tensor.strings.values.append(value)
        elif isinstance(value, bool):
            tensor.bools.values.append(value)
        elif isinstance(value, int):
            tensor.ints.values.append(value)
        else:
            tensor.floats.values.append(value)
    for name, dtype, shape in outputs:
        output = op.outputs.add()
        output.name = name
        tensor_type(output.type, dtype, shape)
    return op


FLOAT16, FLOAT32, INT32, INT8, UINT4, UINT8, STRING = 10, 11, 23, 21, 35, 31, 2
ARRAY_FLOAT16, ARRAY_FLOAT32, ARRAY_INT8 = 65552, 65568, 131080
