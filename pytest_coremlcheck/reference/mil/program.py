"""Compile a MIL function into a flat list of steps once, then run it with torch.

Compilation resolves each op's implementation (by op type and opset version), binds const
inputs to pre-converted torch tensors and computes when each intermediate value can be freed.
Compressed weights (``constexpr_*`` ops) stay compressed: each is decoded when an op reads it
and dropped after that op, unless the ``WeightCache`` keeps it. Running is a tight loop over
the steps. The compiled blocks keep no reference to the loaded MIL program.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from coremltools.converters.mil.mil import types

from ...errors import internal_error, is_internal
from ..errors import ExecutionError, UnsupportedOpError
from . import dtypes, kernel
from .fp16 import MOVES_VALUES, Fp16Mode
from .hazards import SELECTS_VALUES, consts_in_range
from .inplace import slice_updates_in_place
from .recording import scopes_of
from .registry import lookup, opset_of
from .rowwise import ROW_READERS, RowDecoder
from .weights import PackedInts, packed_of

#: A step input binding: ("var", name) | ("const", value) | ("lazy", Deferred or PackedInts,
#: whose ``value()`` decodes it) | ("tuple", [bindings]).
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
    #: input key -> (var name, producing op's name, its op type) of inputs that are not
    #: variables at run time (constants), for recordings; the MIL program is not kept
    const_inputs: dict = field(default_factory=dict)
    #: the converter's scopes of the op (source name -> values), from the loaded program or
    #: the in-memory one (``attach_scopes``)
    scopes: dict = field(default_factory=dict)
    #: whether every fp16-declared value the op reads is fp16-exact (the modes that round)
    fp16_exact: bool = False
    #: ``slice_update`` only: it may write into its ``x``, a state's value nothing reads
    #: after it (``inplace.slice_updates_in_place``)
    writes_state: bool = False
    #: what an implementation derives once from the op's constant inputs
    memo: dict = field(default_factory=dict)

    def run_block(self, index: int, values: list) -> list:
        """Run nested block ``index`` with its inputs bound to ``values``; returns its outputs."""
        return self.executor.run(self.blocks[index], values)

    @property
    def location(self) -> str:
        """The source module the converter says this op came from, when it recorded it."""
        from .recording import source_module

        return source_module(self.scopes)


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
    #: the op only selects values (``hazards.SELECTS_VALUES``), from op outputs the watch sees
    #: and consts within range, each of the same fp16-ness as its outputs
    selects_watched: bool = False
    #: rounds a float32 tensor to fp16 values (``kernel.rounder``)
    to_fp16: object = kernel.round_with_torch


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
            ins = {}
            for key, binding in step.inputs.items():
                kind = binding[0]
                if kind == "var":
                    ins[key] = env[binding[1]]
                elif kind == "const":
                    ins[key] = binding[1]
                else:
                    ins[key] = _resolve(env, binding)
            try:
                result = step.impl(ins, step.node)
            except ExecutionError:
                raise
            except Exception as exc:  # an op failing is reported with its place in the model
                node = step.node
                if is_internal(exc):
                    raise internal_error(f"{self.model_name}: op {node.name!r} "
                                         f"({node.op_type})", exc) from exc
                raise ExecutionError(
                    f"{self.model_name}: op {node.name!r} ({node.op_type}, opset {node.opset}) "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
            outs = result if isinstance(result, (tuple, list)) else (result,)
            if recorder is not None:
                recorder.begin(step)
            for index, (name, value) in enumerate(zip(step.node.output_names, outs)):
                value = _store(self.model_name, step, index, value, watch)
                if recorder is not None:
                    recorder.add(name, value)
                env[name] = value
            for name in step.release:
                env.pop(name, None)
        return [_resolve(env, _output_binding(block, name)) for name in block.output_names]


def _const_inputs(op) -> dict[str, tuple[str, str, str]]:
    """(var name, producer name, producer op type) per single-var input of ``op``."""
    out = {}
    for key, var in op.inputs.items():
        if not isinstance(var, (list, tuple)):
            producer = var.op
            out[key] = (var.name, producer.name if producer is not None else var.name,
                        producer.op_type if producer is not None else "const")
    return out


def _output_binding(block: Block, name: str) -> Binding:
    if name not in block.consts:
        return ("var", name)
    value = block.consts[name]
    return ("lazy", value) if isinstance(value, (Deferred, PackedInts)) else ("const", value)


def _store(model_name: str, step: Step, index: int, value, watch):
    """Output ``index`` of ``step`` as the environment keeps it: in its storage dtype after
    checking its category and shape against the declaration, inspected by ``watch``, rounded
    to fp16 when declared fp16 (in the modes that round)."""
    if not isinstance(value, torch.Tensor):
        return value
    dtype = value.dtype
    storage = step.storage[index]
    if dtype is not storage:  # the storage dtype is of the declared category
        kind = step.kinds[index]
        if kind is not None and dtype not in kind:
            raise ExecutionError(_declared_mismatch(model_name, step, index, value))
        if storage is not None:
            value = value.to(storage)
    shape = step.shapes[index]
    if shape is not None and value.shape != shape and not _fits(value.shape, shape):
        raise ExecutionError(_declared_mismatch(model_name, step, index, value))
    rounded = step.to_fp16(value) if step.round_fp16[index] else None
    if watch is not None:
        watch.inspect_output(step, index, value, rounded)
    return value if rounded is None else rounded


class WeightCache:
    """Decoded compressed weights kept between reads, up to ``limit`` bytes in all.

    The first weights decoded stay and later ones are decoded at every read: a program reads
    its weights in the same order on every run, so evicting the least recently used would
    evict each weight just before its next read.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.kept: dict[int, torch.Tensor] = {}

    def get(self, key: int):
        return self.kept.get(key)

    def offer(self, key: int, value) -> None:
        """Keep ``value`` when it fits within the limit."""
        size = value.element_size() * value.numel() if isinstance(value, torch.Tensor) else 0
        if self.used + size <= self.limit:
            self.kept[key] = value
            self.used += size


class Deferred:
    """Output ``index`` of a compiled ``constexpr_*`` step: the compressed weight, decoded by
    ``value()`` from its compressed inputs each time an op reads it (or kept by ``cache``).
    ``rows(index)`` decodes rows of axis 0 only, for block-wise quantised weights
    (``row_decodable``); ``decoder`` decodes ranges of rows of rank-2 ones faster."""

    __slots__ = ("step", "index", "cache", "model_name", "shape", "numel", "row_decodable",
                 "decoder")

    def __init__(self, step: Step, index: int, cache: WeightCache, model_name: str):
        self.step, self.index, self.cache, self.model_name = step, index, cache, model_name
        self.shape = step.shapes[index]
        known = self.shape is not None and None not in self.shape
        self.numel = int(np.prod(self.shape, dtype=np.int64)) if known else None
        self.row_decodable = known and _row_decodable(step)
        #: decodes chunks of rows fast (``rowwise.RowDecoder``), or None
        self.decoder = RowDecoder.of(self)
        if self.decoder is not None and self.decoder.scale.dtype == torch.float16:
            step.inputs["scale"] = ("const", self.decoder.scale)  # the same values, half size

    def decoded_whole(self) -> bool:
        """Whether ``value()`` is (or, with room in the cache, will be) kept decoded."""
        if self.cache.get(id(self)) is not None:
            return True
        return self.numel is not None and self.cache.used + 4 * self.numel <= self.cache.limit

    def value(self):
        key = id(self)
        kept = self.cache.get(key)
        if kept is not None:
            return kept
        step = self.step
        ins = {key: _resolve(None, binding) for key, binding in step.inputs.items()}
        outs = self._decode(ins)
        value = _store(self.model_name, step, self.index, outs[self.index], None)
        self.cache.offer(key, value)
        return value

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (int64) of axis 0 of the decoded weight, decoding only those rows:
        the data's rows and the rows of scale / offset covering them (row r is in block
        ``r // (rows / scale.shape[0])``)."""
        kept = self.cache.get(id(self))
        if kept is not None:
            return kept[index]
        inputs = self.step.inputs
        data = inputs["data"][1]
        ins = {"data": data.rows(index).value() if isinstance(data, PackedInts) else data[index]}
        for key in ("scale", "offset"):
            if key in inputs:
                param = inputs[key][1]
                ins[key] = param.index_select(0, index // (self.shape[0] // param.shape[0]))
        value = self._decode(ins)[0]
        storage = self.step.storage[0]
        if storage is not None and value.dtype is not storage:
            value = value.to(storage)
        if self.step.round_fp16[0]:
            value = value.to(torch.float16).to(torch.float32)
        return value

    def _decode(self, ins: dict) -> tuple:
        node = self.step.node
        try:
            result = self.step.impl(ins, node)
        except ExecutionError:
            raise
        except Exception as exc:
            raise ExecutionError(
                f"{self.model_name}: op {node.name!r} ({node.op_type}, opset {node.opset}) "
                f"failed: {type(exc).__name__}: {exc}") from exc
        return result if isinstance(result, (tuple, list)) else (result,)


def _row_decodable(step: Step) -> bool:
    """A block-wise quantised weight of rank ≥ 2 from const inputs, its packed data (if
    packed) a whole number of bytes per row."""
    inputs = step.inputs
    if step.node.op_type != "constexpr_blockwise_shift_scale" or "data" not in inputs:
        return False
    kind, data = inputs["data"]
    if isinstance(data, PackedInts):
        if len(data.shape) < 2 or (int(np.prod(data.shape[1:])) * data.nbits) % 8:
            return False
    elif kind != "const" or not isinstance(data, torch.Tensor) or data.dim() < 2:
        return False
    return all(inputs[key][0] == "const" and isinstance(inputs[key][1], torch.Tensor)
               and inputs[key][1].dim() == len(data.shape)
               for key in ("scale", "offset") if key in inputs)


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
    if kind == "lazy":
        return value.value()
    return tuple(_resolve(env, b) for b in value)


class ProgramCompiler:
    """Turns a coremltools MIL function into compiled blocks."""

    def __init__(self, model_name: str, fp16_mode: Fp16Mode, cache_bytes: int = 0):
        self.model_name = model_name
        self.fp16_mode = fp16_mode
        self.runner = BlockRunner(model_name)
        self.to_fp16 = kernel.rounder()
        #: decoded compressed weights kept between reads (``cache_bytes`` at most)
        self.weights = WeightCache(cache_bytes)
        #: names of block inputs (function inputs, loop variables): values no watch inspects
        self.unwatched: set[str] = set()

    def compile_block(self, mil_block, consts: dict[str, object] | None = None) -> Block:
        consts = dict(consts or {})
        steps: list[Step] = []
        inputs = mil_block.inputs
        inputs = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        self.unwatched.update(v.name for v in inputs)
        in_place = slice_updates_in_place(mil_block)
        for op in mil_block.operations:
            if op.op_type == "const":
                consts[op.outputs[0].name] = self._const_value(op)
            elif op.op_type.startswith("constexpr_"):
                step = self._compile_op(op, consts)
                for index, name in enumerate(step.node.output_names):
                    consts[name] = Deferred(step, index, self.weights, self.model_name)
                scale = op.inputs.get("scale")
                if scale is not None and scale.name in consts and len(scale.child_ops) == 1:
                    consts[scale.name] = step.inputs["scale"][1]  # its fp16 copy, if made
            else:
                steps.append(self._compile_op(op, consts))
                steps[-1].node.writes_state = id(op) in in_place
        outputs = [v.name for v in mil_block.outputs]
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
            scopes=scopes_of(op),
            const_inputs=_const_inputs(op),
            fp16_exact=self.fp16_mode.rounds_outputs,
        )
        node.blocks = [self.compile_block(b, consts) for b in op.blocks]
        bindings = {}
        for key, var in op.inputs.items():
            bindings[key] = _binding(var, consts)
        storage = [dtypes.storage_dtype(t) for t in node.output_dtypes]
        rounds = self.fp16_mode.rounds_outputs and op.op_type not in MOVES_VALUES
        round_fp16 = [rounds and dtypes.is_fp16(t) for t in node.output_dtypes]
        fp16 = [dtypes.is_fp16(t) for t in node.output_dtypes]
        plain, impl = impl, self.fp16_mode.wrap(impl, node)
        if op.op_type in ROW_READERS:  # a compressed weight read by rows stays unresolved
            key, wrap = ROW_READERS[op.op_type]
            kind, value = bindings.get(key, (None, None))
            if kind == "lazy" and isinstance(value, Deferred) and value.row_decodable:
                bindings[key] = ("const", value)
                impl = wrap(impl, fused=impl is plain)
        shapes = [_declared_shape(v) for v in op.outputs]
        kinds = [_kind(t) for t in node.output_dtypes]
        return Step(node, impl, bindings, storage, round_fp16, [], fp16, shapes, kinds,
                    self._selects_watched(op, bindings, fp16), self.to_fp16)

    def _selects_watched(self, op, bindings: dict, fp16: list[bool]) -> bool:
        """Whether ``op`` only selects values (``hazards.SELECTS_VALUES``) from op outputs a
        watch inspects and consts within range, every float one as fp16 as its outputs."""
        if op.op_type not in SELECTS_VALUES or op.blocks or len(set(fp16)) > 1:
            return False
        for var in op.inputs.values():
            for v in var if isinstance(var, (list, tuple)) else (var,):
                mil_dtype = dtypes.element_type(v)
                if mil_dtype is not None and types.is_float(mil_dtype) \
                        and dtypes.is_fp16(mil_dtype) != fp16[0]:
                    return False
        flat = list(_flatten(bindings.values()))
        # a compressed weight (lazy, or a row reader's const) is decoded unwatched
        return not any(isinstance(value, (Deferred, PackedInts)) for _, value in flat) \
            and all(value not in self.unwatched for kind, value in flat if kind == "var") \
            and consts_in_range(value for kind, value in flat if kind == "const")

    def _const_value(self, op):
        var = op.outputs[0]
        value = var.val
        if value is None:
            raise ExecutionError(f"{self.model_name}: const {op.name!r} has no value")
        if _only_block_scale(var) and isinstance(value, np.ndarray) and \
                value.dtype == np.float16:
            # held as read (the functions of a package share the array), not widened
            return torch.from_numpy(value)
        return _const_to_runtime(value, dtypes.element_type(var))


def _only_block_scale(var) -> bool:
    """Whether every reader of ``var`` reads it as the ``scale`` of a block-wise quantised
    weight (``constexpr_blockwise_shift_scale``), which decodes from fp16 scales as well."""
    children = var.child_ops
    return bool(children) and all(
        child.op_type == "constexpr_blockwise_shift_scale" and child.inputs.get("scale") is var
        for child in children)


def _const_to_runtime(value, mil_dtype):
    """A const's value as ops read it: a torch tensor in its storage dtype, a Python value, or
    the ``PackedInts`` of a sub-byte weight (unpacked when read)."""
    packed = packed_of(value)
    if packed is not None:
        return packed
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
        value = consts[var.name]
    elif var.op is not None and var.op.op_type == "const":
        value = _const_to_runtime(var.val, dtypes.element_type(var))
    else:
        return ("var", var.name)
    return ("lazy", value) if isinstance(value, (Deferred, PackedInts)) else ("const", value)


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


def _flatten(bindings):
    """Every (kind, value) binding, tuples unpacked."""
    for kind, value in bindings:
        if kind == "tuple":
            yield from _flatten(value)
        else:
            yield kind, value


def _names(bindings):
    """The var names among ``bindings``, tuples unpacked."""
    return (value for kind, value in _flatten(bindings) if kind == "var")


def _block_reads(block: Block):
    for step in block.steps:
        yield from _names(step.inputs.values())
        for nested in step.node.blocks:
            yield from _block_reads(nested)
    yield from block.output_names
