"""Every op output of one prediction, in program order (``ReferenceModel.record``).

Only the ops of the function's top block are recorded: an op with nested blocks (``cond``,
``while_loop``) is recorded once, with its outputs; the ops inside its blocks are not.
Values are what the program holds after the op: declared-fp16 outputs already rounded to
fp16 (in the run's fp16 mode), floats as float32 numpy arrays, ints and bools in their numpy
dtype. Scopes are the source locations coremltools attached to the op: a saved program keeps
none, an ``MLModel`` fresh from ``ct.convert`` keeps them in memory (``_mil_program``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Constant:
    """A const or ``constexpr_*`` value an op reads (a weight, a scalar, an axis list)."""

    #: the var's name
    var: str
    #: the op that produces it and its type (``const``, ``constexpr_lut_to_dense``, ...)
    op: str
    op_type: str
    #: max |x| of the value when it is numeric (inf when it holds an infinity), else None
    peak: float | None = None


@dataclass
class OpRecord:
    """One op of a recorded prediction."""

    name: str
    op_type: str
    #: output var names, in the op's output order
    outputs: list[str]
    #: input key -> var names computed at run time (consts left out; a tuple input lists
    #: several)
    inputs: dict[str, list[str]]
    #: input key -> the const / ``constexpr_*`` value it reads (weights, scalars)
    constants: dict[str, Constant]
    #: per output: whether the program declares it fp16
    fp16: list[bool]
    #: scope source (``torchscript_module_name``, ``torchscript_module_type``,
    #: ``coremltools_graph_pass``, ``exir_debug_handle``, ...) -> its nested values
    scopes: dict[str, list[str]] = field(default_factory=dict)
    #: output var name -> value (only tensors and scalars; see the module docstring)
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def input_vars(self) -> list[str]:
        """Every run-time var this op reads, in input order."""
        return [name for names in self.inputs.values() for name in names]

    @property
    def location(self) -> str:
        """The source module, e.g. ``block (Block)`` (``source_module``)."""
        return source_module(self.scopes)

    def to_dict(self) -> dict:
        """Everything but the values (names, shapes and dtypes of those instead)."""
        return {"name": self.name, "op_type": self.op_type, "outputs": self.outputs,
                "inputs": self.inputs, "fp16": self.fp16,
                "constants": {k: vars(c) for k, c in self.constants.items()},
                "scopes": self.scopes,
                "shapes": {k: list(v.shape) for k, v in self.values.items()},
                "dtypes": {k: str(v.dtype) for k, v in self.values.items()}}


@dataclass
class Recording:
    """The ops of one prediction in program order, with the program's inputs and outputs."""

    model: str
    #: the run's mode label, e.g. ``fp16-typed`` or ``fp16 program run in fp32``
    mode: str
    ops: list[OpRecord]
    #: program input name -> value as the program received it (fp16 inputs rounded)
    inputs: dict[str, np.ndarray]
    #: program output var names, in declaration order
    output_names: list[str]

    def op(self, name: str) -> OpRecord:
        """The record of op ``name``; a KeyError names the recorded ops' count."""
        for record in self.ops:
            if record.name == name:
                return record
        raise KeyError(f"{self.model}: no recorded op {name!r} ({len(self.ops)} ops recorded)")

    def producer(self, var: str) -> OpRecord | None:
        """The op whose outputs include ``var``; None for a program input or a const."""
        for record in self.ops:
            if var in record.outputs:
                return record
        return None

    def value(self, var: str) -> np.ndarray:
        """The value of var ``var``: an op output or a program input."""
        if var in self.inputs:
            return self.inputs[var]
        record = self.producer(var)
        if record is None or var not in record.values:
            raise KeyError(f"{self.model}: no recorded value for var {var!r}")
        return record.values[var]


class Recorder:
    """Collects the outputs of the steps of one top-level block while the runner runs."""

    def __init__(self, block, scopes: dict[str, dict[str, list[str]]]):
        self.block = block
        self.scopes = scopes
        self.ops: list[OpRecord] = []
        self._current: OpRecord | None = None

    def begin(self, step) -> None:
        """Start the record of ``step`` (its outputs follow through ``add``)."""
        node = step.node
        inputs, constants = {}, {}
        for key, binding in step.inputs.items():
            names = list(_var_names(binding))
            if names:
                inputs[key] = names
        for key, (var, producer, producer_type) in node.const_inputs.items():
            if key not in inputs:
                constants[key] = Constant(var, producer, producer_type, _peak(step.inputs[key]))
        scopes = node.scopes or self.scopes.get(node.name, {})
        self._current = OpRecord(node.name, node.op_type, list(node.output_names), inputs,
                                 constants, list(step.fp16), scopes)
        self.ops.append(self._current)

    def add(self, name: str, value) -> None:
        """Keep output ``name`` of the current op (a copy: the runner frees its values)."""
        array = to_numpy(value)
        if array is not None:
            self._current.values[name] = array


def to_numpy(value) -> np.ndarray | None:
    """A run-time value as numpy: floats as float32; None for non-tensors (lists, strings)."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        return tensor.clone().numpy()
    if isinstance(value, (bool, int, float, np.ndarray, np.generic)):
        array = np.asarray(value)
        return array.astype(np.float32) if array.dtype.kind == "f" else array
    return None


def _peak(binding) -> float | None:
    kind, value = binding
    if kind != "const" or not isinstance(value, torch.Tensor) or value.numel() == 0:
        return None
    if not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64)):
        return None
    return float(value.abs().max())


def program_scopes(mil_program) -> dict[str, dict[str, list[str]]]:
    """Op name -> scopes of every op of an in-memory MIL program (all functions, nested
    blocks included); ``{}`` when ``mil_program`` is None."""
    found: dict[str, dict[str, list[str]]] = {}
    if mil_program is None:
        return found

    def visit(block):
        for op in block.operations:
            scopes = scopes_of(op)
            if scopes:
                found[op.name] = scopes
            for nested in op.blocks:
                visit(nested)

    for function in mil_program.functions.values():
        visit(function)
    return found


def source_module(scopes: dict) -> str:
    """The module an op came from: TorchScript scopes give ``blocks.1.norm (RMSNorm)`` (module
    names without the last entry, the value's name; the type of the innermost module); other
    scopes are listed as ``source=a/b``; empty when there are none."""
    names = scopes.get("torchscript_module_name")
    types = scopes.get("torchscript_module_type")
    if names and types:
        path = ".".join(names[:-1]) or "(top level)"
        kind = f" ({types[-2]})" if len(types) > 1 else ""
        return f"{path}{kind}"
    return "; ".join(f"{k}={'/'.join(v)}" for k, v in scopes.items()
                     if k != "coremltools_graph_pass")


def scopes_of(mil_op) -> dict[str, list[str]]:
    """An op's scopes keyed by lower-case source name (``torchscript_module_name``, ...)."""
    scopes = getattr(mil_op, "scopes", None) or {}
    return {getattr(k, "name", str(k)).lower(): [str(v) for v in values]
            for k, values in scopes.items()}


def _var_names(binding):
    kind, value = binding
    if kind == "var":
        yield value
    elif kind == "tuple":
        for item in value:
            yield from _var_names(item)
