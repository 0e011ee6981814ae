"""Compile a MIL function into a flat list of steps once, then run it with torch.

Compilation resolves each op's implementation (by op type and opset version), binds const
inputs to pre-converted torch tensors, materialises ``constexpr_*`` weights once, and
computes when each intermediate value can be freed. Running is a tight loop over the steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from coremltools.converters.mil.mil import types

from ..errors import ExecutionError, UnsupportedOpError
from . import dtypes
from .fp16 import Fp16Mode
from .registry import lookup, opset_of

#: A step input binding: ("var", name) | ("const", value) | ("tuple", [bindings]).
Binding = tuple


@dataclass
class Node:
    """A compiled op: what an implementation may read besides its inputs."""

    name: str
    op_type: str
    opset: str
    output_names: list[str]
    output_dtypes: list  # MIL element types (None for non-tensors)
    blocks: list[Block] = field(default_factory=list)
    executor: BlockRunner | None = None
    mil_op: object = None
    #: scopes from the in-memory program when the loaded one has none (``attach_scopes``)
    scopes: dict = field(default_factory=dict)

    def run_block(self, index: int, values: list) -> list:
        """Run nested block ``index`` with its inputs bound to ``values``; returns its outputs."""
        return self.executor.run(self.blocks[index], values)

    @property
    def location(self) -> str:
        """The source module the converter says this op came from, when it recorded it."""
        from .recording import scopes_of, source_module

        return source_module(scopes_of(self.mil_op) or self.scopes)


@dataclass
class Step:
    node: Node
    impl: object
    inputs: dict[str, Binding]
    storage: list  # torch dtype per output, or None
    round_fp16: list[bool]
    release: list[str]
    fp16: list[bool] = field(default_factory=list)  # output declared fp16
    #: per output: declared shape (ints; None for a symbolic dim) or None for a non-tensor
    shapes: list = field(default_factory=list)
    #: per output: the torch dtypes of the declared element type's category, or None
    kinds: list = field(default_factory=list)


@dataclass
class Block:
    """A compiled block: its input names, steps and output names."""

    input_names: list[str]
    steps: list[Step]
    output_names: list[str]
    consts: dict[str, object]


class BlockRunner:
    """Runs compiled blocks over one shared environment of SSA names."""

    def __init__(self, model_name: str):
        self.model_name = model_name
        self.env: dict[str, object] = {}
        #: a HazardWatch inspecting every op output before fp16 rounding, or None
        self.watch = None
        #: a ``recording.Recorder`` keeping the outputs of its block's ops, or None
        self.recorder = None

    def run(self, block: Block, values: list) -> list:
        env = self.env
        watch = self.watch
        recorder = self.recorder if self.recorder is not None and self.recorder.block is block \
            else None
        for name, value in zip(block.input_names, values):
            env[name] = value
        for step in block.steps:
            ins = {key: _resolve(env, binding) for key, binding in step.inputs.items()}
            try:
                result = step.impl(ins, step.node)
            except ExecutionError:
                raise
            except Exception as exc:  # an op failing is reported with its place in the model
                node = step.node
                raise ExecutionError(
                    f"{self.model_name}: op {node.name!r} ({node.op_type}, opset {node.opset}) "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
            outs = result if isinstance(result, (tuple, list)) else (result,)
            if recorder is not None:
                recorder.begin(step)
            for index, (name, value, storage, round_fp16, shape, kind) in enumerate(zip(
                step.node.output_names, outs, step.storage, step.round_fp16, step.shapes,
                step.kinds
            )):
                if isinstance(value, torch.Tensor):
                    dtype = value.dtype
                    if dtype is not storage:  # the storage dtype is of the declared category
                        if kind is not None and dtype not in kind:
                            raise ExecutionError(_declared_mismatch(self.model_name, step,
                                                                    index, value))
                        if storage is not None:
                            value = value.to(storage)
                    if shape is not None and value.shape != shape and not _fits(value.shape,
                                                                                 shape):
                        raise ExecutionError(_declared_mismatch(self.model_name, step, index,
                                                                value))
                    if watch is not None:
                        watch.inspect(step.node, name, value, step.fp16[index])
                    if round_fp16:
                        value = value.to(torch.float16).to(torch.float32)
                if recorder is not None:
                    recorder.add(name, value)
                env[name] = value
            for name in step.release:
                env.pop(name, None)
        return [_resolve(env, ("var", name)) if name not in block.consts else block.consts[name]
                for name in block.output_names]


#: torch dtypes per category of MIL element type: values are stored in their category's
#: widest convenient dtype (fp16 in float32, uint16 in int32, ...), so only the category is
#: checked against the declared type.
_FLOATS = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
_INTS = frozenset({torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64})
_BOOLS = frozenset({torch.bool})


def _kind(mil_dtype) -> frozenset | None:
    """The torch dtypes a value of MIL element type ``mil_dtype`` may be computed in."""
    if mil_dtype is None or mil_dtype is types.str:
        return None
    if mil_dtype is types.bool:
        return _BOOLS
    return _FLOATS if types.is_float(mil_dtype) else _INTS


def _declared_shape(var) -> tuple | None:
    """``var``'s declared shape, a symbolic dim as None; None when ``var`` is not a tensor."""
    sym = var.sym_type
    if types.is_scalar(sym):
        return ()
    if not types.is_tensor(sym):
        return None
    return tuple(int(d) if isinstance(d, (int, np.integer)) else None for d in var.shape)


def _fits(shape, declared: tuple) -> bool:
    """Whether a computed shape matches a declared one with symbolic (None) dims."""
    return len(shape) == len(declared) and all(
        d is None or d == s for s, d in zip(shape, declared))


def _declared_mismatch(model_name: str, step: Step, index: int, value) -> str:
    node = step.node
    declared = step.shapes[index]
    shape = "?" if declared is None else "(" + ", ".join(
        "?" if d is None else str(d) for d in declared) + ")"
    return (f"{model_name}: op {node.name!r} ({node.op_type}) output "
            f"{node.output_names[index]!r}: the program declares shape {shape} of "
            f"{types.builtin_to_string(node.output_dtypes[index])}, the executor computed "
            f"shape {tuple(value.shape)} of {str(value.dtype).replace('torch.', '')}: "
            "a converter bug or an executor bug")


def _resolve(env, binding):
    kind, value = binding
    if kind == "var":
        return env[value]
    if kind == "const":
        return value
    return tuple(_resolve(env, b) for b in value)


class ProgramCompiler:
    """Turns a coremltools MIL function into compiled blocks."""

    def __init__(self, model_name: str, fp16_mode: Fp16Mode):
        self.model_name = model_name
        self.fp16_mode = fp16_mode
        self.runner = BlockRunner(model_name)

    def compile_block(self, mil_block, consts: dict[str, object] | None = None) -> Block:
        consts = dict(consts or {})
        steps: list[Step] = []
        for op in mil_block.operations:
            if op.op_type == "const":
                consts[op.outputs[0].name] = self._const_value(op)
            elif op.op_type.startswith("constexpr_"):
                consts.update(self._materialize(self._compile_op(op, consts)))
            else:
                steps.append(self._compile_op(op, consts))
        outputs = [v.name for v in mil_block.outputs]
        inputs = mil_block.inputs
        inputs = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        block = Block([v.name for v in inputs], steps, outputs, consts)
        _plan_releases(block)
        return block

    def _compile_op(self, op, consts) -> Step:
        opset = opset_of(type(op))
        impl = lookup(op.op_type, opset)
        if impl is None:
            raise UnsupportedOpError(
                f"{self.model_name}: op {op.name!r} of type {op.op_type!r} (opset {opset}) "
                "is not implemented by the reference executor"
            )
        node = Node(
            name=op.name,
            op_type=op.op_type,
            opset=opset,
            output_names=[v.name for v in op.outputs],
            output_dtypes=[dtypes.element_type(v) for v in op.outputs],
            executor=self.runner,
            mil_op=op,
        )
        node.blocks = [self.compile_block(b, consts) for b in op.blocks]
        bindings = {}
        for key, var in op.inputs.items():
            bindings[key] = _binding(var, consts)
        storage = [dtypes.storage_dtype(t) for t in node.output_dtypes]
        rounds = self.fp16_mode.rounds_outputs
        round_fp16 = [rounds and dtypes.is_fp16(t) for t in node.output_dtypes]
        fp16 = [dtypes.is_fp16(t) for t in node.output_dtypes]
        impl = self.fp16_mode.wrap(impl, node)
        shapes = [_declared_shape(v) for v in op.outputs]
        kinds = [_kind(t) for t in node.output_dtypes]
        return Step(node, impl, bindings, storage, round_fp16, [], fp16, shapes, kinds)

    def _const_value(self, op):
        value = op.outputs[0].val
        if value is None:
            raise ExecutionError(f"{self.model_name}: const {op.name!r} has no value")
        return _const_to_runtime(value, dtypes.element_type(op.outputs[0]))

    def _materialize(self, step: Step) -> dict[str, object]:
        """Run a ``constexpr_*`` op once, at load: its inputs are all consts."""
        values = self.runner.run(Block([], [step], step.node.output_names, {}), [])
        self.runner.env.clear()
        return dict(zip(step.node.output_names, values))


def _const_to_runtime(value, mil_dtype):
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "US":
        return value.tolist()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        return list(value)
    if mil_dtype is types.bool and np.ndim(value) == 0:
        return bool(value)
    if types.is_str(mil_dtype) if mil_dtype is not None else False:
        return str(value)
    return dtypes.to_torch(value, mil_dtype)


def _binding(var, consts) -> Binding:
    if isinstance(var, (list, tuple)):
        return ("tuple", [_binding(v, consts) for v in var])
    if var.name in consts:
        return ("const", consts[var.name])
    if var.op is not None and var.op.op_type == "const":
        return ("const", _const_to_runtime(var.val, dtypes.element_type(var)))
    return ("var", var.name)


def _plan_releases(block: Block) -> None:
    """Free each value defined in this block right after the last step that reads it."""
    defined = set()
    last_use: dict[str, int] = {}
    for index, step in enumerate(block.steps):
        for name in _names(step.inputs.values()):
            last_use[name] = index
        for nested in step.node.blocks:  # nested blocks may read values of this one
            for name in _block_reads(nested):
                last_use[name] = index
        defined.update(step.node.output_names)
    keep = set(block.output_names)
    for name, index in last_use.items():
        if name in defined and name not in keep:
            block.steps[index].release.append(name)


def _names(bindings):
    for kind, value in bindings:
        if kind == "var":
            yield value
        elif kind == "tuple":
            yield from _names(value)


def _block_reads(block: Block):
    for step in block.steps:
        yield from _names(step.inputs.values())
        for nested in step.node.blocks:
            yield from _block_reads(nested)
    yield from block.output_names
