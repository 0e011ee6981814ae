"""Compile a NeuralNetwork layer list once; run it as a tight loop over blobs.

Compiling resolves each layer's implementation from the registry, decodes all of its weights to
torch tensors and checks that every input blob is produced by a model input or an earlier
layer. Running walks the compiled steps over an environment ``{blob name: tensor}``; at the top
level each blob is dropped right after its last reader.

Every blob is a float32 tensor (indices, shapes and booleans included, as in Core ML). In fp16
mode every layer output, every decoded weight and every network input is rounded to float16.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import internal_error, is_internal
from ..errors import ExecutionError, ModelLoadError, UnsupportedOpError
from . import declared as _declared
from . import registry, weights


class LoopBreak(Exception):  # noqa: N818 - control flow, not an error
    """Raised by a ``loopBreak`` layer; ends the innermost loop."""


class LoopContinue(Exception):  # noqa: N818 - control flow, not an error
    """Raised by a ``loopContinue`` layer; skips to the innermost loop's next iteration."""


def round_fp16(t: torch.Tensor) -> torch.Tensor:
    """``t`` rounded to the nearest float16 value (kept as float32)."""
    return t.to(torch.float16).to(torch.float32)


@dataclass
class Step:
    """One compiled layer."""

    name: str
    type: str
    inputs: list[str]
    outputs: list[str]
    run: Callable
    scope: bool = False
    reads: set[str] = field(default_factory=set)
    free: tuple[str, ...] = ()
    nested: list = field(default_factory=list)
    int8_dynamic: bool = False
    declared: list = field(default_factory=list)
    #: weights of a layer marked ``isUpdatable`` ({"weights": W, "bias": b}), trained in place
    parameters: dict = field(default_factory=dict)


class Compiler:
    """Compiles layer lists of one model; shared by its nested (loop/branch) networks."""

    def __init__(self, model_name: str, fp16: bool, dims_known: bool = True):
        """``dims_known``: declared layer dimensions hold (no input is flexible)."""
        self.model_name = model_name
        self.fp16 = fp16
        self.dims_known = dims_known

    def compile(self, layers: Iterable, available: set[str]) -> Network:
        """A :class:`Network` of ``layers``; ``available`` lists the blobs already defined.

        ``available`` is updated with the blobs the layers produce.
        """
        steps = []
        for layer in layers:
            steps.append(self._compile_layer(layer, available))
        return Network(self.model_name, steps, self.fp16)

    def _compile_layer(self, layer, available: set[str]) -> Step:
        layer_type = layer.WhichOneof("layer")
        ctx = LayerContext(self, layer, layer_type or "<none>", available)
        if layer_type is None:
            numbers = _unknown_field_numbers(layer)
            if numbers:
                raise UnsupportedOpError(
                    f"{self.model_name}: layer {layer.name!r} is of an unknown layer type "
                    f"(NeuralNetworkLayer field {', '.join(map(str, numbers))}), newer than the "
                    "installed coremltools spec; the reference executor cannot run it")
            raise UnsupportedOpError(f"{self.model_name}: layer {layer.name!r} has no layer type "
                                     "set (an empty layer message)")
        entry = registry.lookup(layer_type)
        if entry is None:
            raise UnsupportedOpError(
                f"{self.model_name}: layer {layer.name!r} is of type {layer_type!r}, which the "
                "reference executor does not implement")
        for blob in layer.input:
            if blob not in available:
                raise ModelLoadError(
                    f"{self.model_name}: layer {layer.name!r} ({layer_type}) reads blob "
                    f"{blob!r}, which no model input or earlier layer produces")
        params = getattr(layer, layer_type)
        try:
            run = entry.build(params, ctx)
        except (ModelLoadError, UnsupportedOpError):
            raise
        except Exception as exc:
            raise ModelLoadError(f"{ctx.where()}: cannot compile ({type(exc).__name__}: "
                                 f"{exc})") from exc
        available.update(layer.output)
        reads = set(layer.input) | ctx.nested_reads
        step = Step(layer.name, layer_type, list(layer.input), list(layer.output), run,
                    entry.scope, reads)
        step.nested = ctx.nested
        step.parameters = ctx.parameters
        step.int8_dynamic = bool(getattr(params, "int8DynamicQuantize", False))
        declared = _declared.layer_declarations(layer, self.dims_known)
        if any(declared):
            step.declared = declared
        return step


class LayerContext:
    """What a layer builder may use at compile time: weights, errors, nested networks."""

    def __init__(self, compiler: Compiler, layer, layer_type: str, available: set[str]):
        self.compiler = compiler
        self.layer = layer
        self.type = layer_type
        self.name = layer.name
        self.available = available
        self.nested_reads: set[str] = set()
        self.nested: list[Network] = []
        self.parameters: dict[str, torch.Tensor] = {}

    @property
    def fp16(self) -> bool:
        return self.compiler.fp16

    @property
    def n_inputs(self) -> int:
        return len(self.layer.input)

    @property
    def n_outputs(self) -> int:
        return len(self.layer.output)

    def where(self, part: str = "") -> str:
        text = f"{self.compiler.model_name}: layer {self.name!r} ({self.type})"
        return f"{text} {part}" if part else text

    def error(self, message: str) -> ModelLoadError:
        """A load error naming the model and this layer."""
        return ModelLoadError(f"{self.where()}: {message}")

    def unsupported(self, message: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"{self.where()}: {message}")

    def weights(self, wp, shape, part: str, *, axis: int = 0) -> torch.Tensor:
        """``wp`` decoded to a float32 tensor of ``shape`` (fp16-rounded in fp16 mode)."""
        return self._tensor(weights.decode(wp, shape, self.where(part), axis=axis))

    def weights_any(self, wp, part: str, allowed: tuple[int, ...] | None = None) -> torch.Tensor:
        """``wp`` decoded to a flat tensor whose length the storage determines."""
        return self._tensor(weights.decode_any(wp, self.where(part), allowed))

    def optional_weights(self, wp, shape, part: str, *, axis: int = 0) -> torch.Tensor | None:
        """Like :meth:`weights`, or None when ``wp`` is empty."""
        if weights.is_empty(wp):
            return None
        return self.weights(wp, shape, part, axis=axis)

    def trainable(self, part: str, tensor: torch.Tensor | None) -> torch.Tensor | None:
        """``tensor`` as the layer uses it; for a layer marked ``isUpdatable``, a private copy
        registered as ``part`` so that training can update it in place."""
        if tensor is None or not self.layer.isUpdatable:
            return tensor
        copy = tensor.clone()
        self.parameters[part] = copy
        return copy

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        return round_fp16(t) if self.fp16 else t

    def compile_network(self, nn, extra_available: Iterable[str] = ()) -> Network:
        """Compile a nested network (loop/branch body) sharing this model's blob scope."""
        scope = set(self.available) | set(extra_available)
        network = self.compiler.compile(nn.layers, scope)
        self.nested_reads |= network.reads()
        self.nested.append(network)
        return network


class Network:
    """Compiled steps of one layer list."""

    def __init__(self, model_name: str, steps: list[Step], fp16: bool):
        self.model_name = model_name
        self.steps = steps
        self.fp16 = fp16

    def produced(self) -> set[str]:
        return {name for step in self.steps for name in step.outputs}

    def producer(self, blob: str) -> Step | None:
        """The last top-level step that writes ``blob``."""
        return next((s for s in reversed(self.steps) if blob in s.outputs), None)

    def reads(self) -> set[str]:
        return {name for step in self.steps for name in step.reads}

    def all_steps(self):
        """Every step, those of nested networks included."""
        for step in self.steps:
            yield step
            for network in step.nested:
                yield from network.all_steps()

    def layer_types(self) -> set[str]:
        return {step.type for step in self.all_steps()}

    def uses_dynamic_int8(self) -> bool:
        return any(step.int8_dynamic for step in self.all_steps())

    def plan_frees(self, keep: set[str]) -> None:
        """Drop each blob after its last reader (or right away if never read), except ``keep``.

        Blobs read inside nested networks count as read by their control-flow layer.
        """
        last: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            for name in step.reads:
                last[name] = i
            for name in step.outputs:
                last.setdefault(name, i)
        frees: list[list[str]] = [[] for _ in self.steps]
        for name, i in last.items():
            if name not in keep:
                frees[i].append(name)
        produced_later: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            for name in step.outputs:
                produced_later[name] = i
        for i, step in enumerate(self.steps):
            # A blob rewritten later (copy layer) must survive until its final value is read.
            step.free = tuple(n for n in frees[i] if produced_later.get(n, -1) <= i)

    def run(self, env: dict) -> None:
        """Execute every step, reading and writing ``env``."""
        fp16 = self.fp16
        step = None
        try:
            for step in self.steps:
                if step.scope:
                    step.run(env)
                else:
                    out = step.run([env[n] for n in step.inputs])
                    if step.declared:
                        self._check_declared(step, out)
                    if isinstance(out, torch.Tensor):
                        env[step.outputs[0]] = round_fp16(out) if fp16 else out
                    else:
                        for name, value in zip(step.outputs, out):
                            env[name] = round_fp16(value) if fp16 else value
                for name in step.free:
                    env.pop(name, None)
        except (LoopBreak, LoopContinue, ExecutionError):
            raise
        except KeyError as exc:
            missing = exc.args[0] if exc.args else "?"
            raise ExecutionError(
                f"{self.model_name}: layer {step.name!r} ({step.type}) reads blob {missing!r}, "
                "which has not been produced (e.g. only one side of a branch writes it)"
            ) from None
        except Exception as exc:
            if is_internal(exc):
                raise internal_error(f"{self.model_name}: layer {step.name!r} ({step.type})",
                                     exc) from exc
            shapes = ", ".join(
                f"{n}{list(env[n].shape)}" for n in step.inputs
                if isinstance(env.get(n), torch.Tensor))
            raise ExecutionError(
                f"{self.model_name}: layer {step.name!r} ({step.type}) failed on inputs "
                f"[{shapes}]: {type(exc).__name__}: {exc}") from exc

    def _check_declared(self, step: Step, out) -> None:
        blobs = [out] if isinstance(out, torch.Tensor) else list(out)
        for index, (blob, want) in enumerate(zip(blobs, step.declared)):
            if want is not None:
                _declared.check_layer_output(self.model_name, step, index, blob, want)


def _unknown_field_numbers(message) -> list[int]:
    """Field numbers the installed proto does not know (e.g. a layer type from a newer spec)."""
    try:
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:  # older protobuf
        return []
    try:
        return sorted({field.field_number for field in UnknownFieldSet(message)})
    except Exception:
        return []
