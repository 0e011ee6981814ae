"""Decode-loop checks: a stateful language model, step by step, against its source.

Both sides keep their own key/value cache across calls: the converted model in a state from
``make_state()`` (reference executor), the source in whatever it holds (e.g. buffers). Step 0
feeds the prompt (the ``prefill`` function), steps 1 … ``steps`` one token each (``decode``).
Each step compares the logits (SNR, cosine, top-1 token) and picks the next token greedily
(arg-max of the last position).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .compare import metrics
from .compare.tolerance import PRECISION_DEFAULTS, Tolerance, with_default
from .compare.verdict import tightest_passing, violations
from .errors import CheckError, EquivalenceError, guarded
from .result import EquivalenceResult, OutputResult

#: value of the causal mask where a position may not attend
MASKED = -1e4
#: FP32 program with an fp16 state (every Core ML state is fp16): a key or value that differs
#: from the source's in the last float32 bit can round to the neighbouring fp16 value, a
#: relative error of 2^-11 that later steps attend to. Measured with correct conversions:
#: 101–137 dB (2 layers, dim 32), 87.9–89.2 dB (8 layers, dim 512, 57 M parameters); so 60 dB
#: (and the same top-1 tokens), not the 85 dB of stateless FP32 programs.
FP16_STATE_DEFAULT = Tolerance(min_snr_db=60.0, min_cosine=0.9999)
#: ops whose fp16 outputs only store or fetch a state (not compute): an FP32 program keeps
#: its fp16 k/v cache (Core ML states are fp16) and stays "fp32"
_STATE_STORAGE_OPS = frozenset({"read_state", "write_state", "coreml_update_state", "cast"})


def causal_lm_feeds(tokens: Sequence[int], start: int) -> dict[str, np.ndarray]:
    """Feeds of one call of a causal language model, the common Core ML convention.

    ``input_ids`` (1, n) int32 holds the tokens at positions ``start`` … ``start + n − 1``;
    ``causal_mask`` (1, 1, n, start + n) float32 is 0 where row i may attend (columns
    ≤ start + i) and ``MASKED`` (−1e4) elsewhere.
    """
    ids = np.asarray(tokens, dtype=np.int32).reshape(1, -1)
    end = start + ids.shape[1]
    rows = np.arange(start, end)[:, None]
    mask = np.where(np.arange(end)[None, :] <= rows, 0.0, MASKED).astype(np.float32)
    return {"input_ids": ids, "causal_mask": mask[None, None]}


@dataclass
class DecodeStep:
    """One call of both sides: what went in, the tokens each side picked, the metrics."""

    index: int
    function: str
    position: int
    source_input: list[int]
    converted_input: list[int]
    source_token: int
    converted_token: int
    metrics: metrics.OutputMetrics | None = None

    @property
    def compared(self) -> bool:
        return self.metrics is not None

    def label(self) -> str:
        return f"step {self.index} ({self.function}, position {self.position})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.index, "function": self.function,
                               "position": self.position, "source_input": self.source_input,
                               "converted_input": self.converted_input,
                               "source_token": self.source_token,
                               "converted_token": self.converted_token,
                               "compared": self.compared}
        if self.metrics is not None:
            out["snr_db"] = metrics.json_number(self.metrics.snr_db)
            out["cosine"] = metrics.json_number(self.metrics.cosine)
            out["max_abs"] = metrics.json_number(self.metrics.max_abs)
        return out


@dataclass
class DecodeResult(EquivalenceResult):
    """An ``EquivalenceResult`` whose output rows are the steps of a decode loop.

    ``teacher_forcing``: both sides were fed the source's tokens (else each its own).
    ``first_divergent_step``: the first step whose top-1 tokens differ (None: none did).
    """

    prompt: list[int] = field(default_factory=list)
    teacher_forcing: bool = False
    steps: list[DecodeStep] = field(default_factory=list)

    @property
    def source_tokens(self) -> list[int]:
        """The tokens the source generated (one per step)."""
        return [s.source_token for s in self.steps]

    @property
    def converted_tokens(self) -> list[int]:
        """The tokens the converted model generated (one per step)."""
        return [s.converted_token for s in self.steps]

    @property
    def first_divergent_step(self) -> int | None:
        return next((s.index for s in self.steps if s.source_token != s.converted_token), None)

    @property
    def compared_steps(self) -> list[DecodeStep]:
        return [s for s in self.steps if s.compared]

    @property
    def top1_agreement(self) -> float | None:
        """Fraction of compared steps whose top-1 tokens agree (None: none compared)."""
        compared = self.compared_steps
        if not compared:
            return None
        return sum(s.source_token == s.converted_token for s in compared) / len(compared)

    @property
    def mode(self) -> str:
        return "teacher forcing" if self.teacher_forcing else "free-running"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["decode"] = {
            "mode": self.mode, "prompt": list(self.prompt),
            "source_tokens": self.source_tokens, "converted_tokens": self.converted_tokens,
            "first_divergent_step": self.first_divergent_step,
            "top1_agreement": self.top1_agreement,
            "steps_compared": len(self.compared_steps),
            "steps": [s.to_dict() for s in self.steps],
        }
        return out


def decode_check(source: Callable, converted, prompt: Sequence[int], *, steps: int = 32,
                 teacher_forcing: bool = False, tolerance: Tolerance | dict | None = None,
                 feeds: Callable[[Sequence[int], int], dict] = causal_lm_feeds,
                 prefill: str | None = "prefill", decode: str | None = "decode",
                 output: str = "logits", reset: Callable[[], Any] | None = None,
                 name: str | None = None, fp16_mode: str = "typed") -> DecodeResult:
    """Run a greedy decode loop on both sides and compare every step; see ``run_decode``.

    Raises ``EquivalenceError`` (naming the first failing step) when a step's logits break
    the tolerance, the tokens diverge below ``min_top1`` or no decode step was compared;
    ``CheckError`` when the loop cannot run.
    """
    result = run_decode(source, converted, prompt, steps=steps,
                        teacher_forcing=teacher_forcing, tolerance=tolerance, feeds=feeds,
                        prefill=prefill, decode=decode, output=output, reset=reset,
                        name=name, fp16_mode=fp16_mode)
    if not result.passed:
        raise EquivalenceError(result)
    return result


def run_decode(source: Callable, converted, prompt: Sequence[int], *, steps: int = 32,
               teacher_forcing: bool = False, tolerance: Tolerance | dict | None = None,
               feeds: Callable[[Sequence[int], int], dict] = causal_lm_feeds,
               prefill: str | None = "prefill", decode: str | None = "decode",
               output: str = "logits", reset: Callable[[], Any] | None = None,
               name: str | None = None, fp16_mode: str = "typed") -> DecodeResult:
    """The decode loop and its verdict, without raising on a failed verdict.

    ``source(**feeds)`` (torch tensors) returns the logits (1, n, vocab) — a tensor, or a
    tuple/dict holding it first / under ``output`` — and keeps its own cache; ``reset`` (default:
    ``source.reset_cache`` when it has one) empties it first. ``converted`` (an ``.mlpackage``
    path, an ``MLModel``, or ``DecoderFunctions`` loaded once for several loops) runs its
    ``prefill`` function on the prompt, then ``decode`` once per
    step, both on one state from ``make_state()``; a model without functions runs its one
    function for both. ``feeds(tokens, start)`` builds both sides' inputs
    (``causal_lm_feeds``). Free-running (default), each side is fed the token it picked;
    with ``teacher_forcing``, both are fed the source's. Logits are compared at every step
    whose inputs were the same on both sides (free-running: up to the first divergent step).

    Default tolerance (none set): FP32 programs ``min_snr_db=85, min_cosine=0.99999,
    min_top1=1`` (the same tokens), or ``min_snr_db=60, min_cosine=0.9999, min_top1=1`` when
    their state is fp16 (``FP16_STATE_DEFAULT``); FP16 programs ``min_snr_db=30,
    min_cosine=0.999``.
    ``min_top1`` applies to the agreement over the compared steps, the other limits to each
    step's logits.
    """
    prompt = [int(t) for t in prompt]
    if not prompt:
        raise CheckError("decode check: the prompt is empty; it needs at least one token")
    if steps < 0:
        raise CheckError(f"decode check: steps must be ≥ 0, got {steps}")
    user = guarded("tolerance", lambda: _as_tolerance(tolerance))
    if not isinstance(converted, DecoderFunctions):
        converted = DecoderFunctions(converted, prefill=prefill, decode=decode,
                                     fp16_mode=fp16_mode)
    models, names = converted.models, converted.names
    precision = decode_precision(models["prefill"].spec)
    fp16_state = any(f.dtype == np.float16 for f in models["prefill"].states)
    limits = with_default(user, _default(precision, fp16_state))
    step_limits = replace(limits, min_top1=None)
    reset = reset if reset is not None else getattr(source, "reset_cache", None)
    if reset is not None:
        guarded("source reset", reset)
    started = time.perf_counter()
    timings = {"source_s": 0.0, "converted_s": 0.0}
    state = guarded(models["prefill"].name, models["prefill"].make_state)
    loop = _Loop(source, converted, state, feeds, output, timings)
    records, diverged = [], False
    source_in, converted_in, position = prompt, prompt, 0
    for index in range(steps + 1):
        function = "prefill" if index == 0 else "decode"
        src_logits, conv_logits = loop.step(function, source_in, converted_in, position)
        step = DecodeStep(index, names[function], position, list(source_in),
                          list(converted_in), _next_token(src_logits),
                          _next_token(conv_logits))
        if not diverged or teacher_forcing:
            step.metrics = guarded(f"{step.label()}: {output}",
                                   lambda a=conv_logits, b=src_logits: metrics.compute([(a, b)]))
        diverged = diverged or step.source_token != step.converted_token
        records.append(step)
        position += len(source_in)
        source_in = [step.source_token]
        converted_in = [step.source_token if teacher_forcing else step.converted_token]
    timings["total_s"] = time.perf_counter() - started
    return _result(records, prompt, teacher_forcing, limits, step_limits, precision,
                   converted, source, output, name, timings, steps)


class _Loop:
    """Runs one step on each side: the source through its callable, the converted model
    through the function's ``ReferenceModel`` on the shared state."""

    def __init__(self, source, functions: DecoderFunctions, state, feeds, output, timings):
        self.source, self.functions, self.state = source, functions, state
        self.feeds, self.output, self.timings = feeds, output, timings

    def step(self, function, source_in, converted_in, position):
        where = f"{function} at position {position}"
        src_feeds = guarded(f"feeds for {where}", lambda: self.feeds(source_in, position))
        conv_feeds = src_feeds if converted_in == source_in else guarded(
            f"feeds for {where}", lambda: self.feeds(converted_in, position))
        t0 = time.perf_counter()
        src = guarded(f"source at {where}", lambda: _run_source(self.source, src_feeds,
                                                               self.output))
        t1 = time.perf_counter()
        model, name = self.functions.models[function], self.functions.names[function]
        conv = guarded(f"{model.name} function {name!r} at {where}",
                       lambda: model.predict(conv_feeds, state=self.state))
        self.timings["source_s"] += t1 - t0
        self.timings["converted_s"] += time.perf_counter() - t1
        if self.output not in conv:
            raise CheckError(f"{model.name}: no output {self.output!r}; the function "
                             f"{name!r} outputs {', '.join(conv)}")
        return src, np.asarray(conv[self.output], dtype=np.float32)


def _run_source(source, feeds: dict[str, np.ndarray], output: str) -> np.ndarray:
    import torch

    with torch.no_grad():
        value = source(**{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items()})
    if isinstance(value, dict):
        value = value[output] if output in value else next(iter(value.values()))
    elif isinstance(value, (tuple, list)):
        value = value[0]
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _next_token(logits: np.ndarray) -> int:
    """Greedy: arg-max over the vocabulary of the last position."""
    return int(np.asarray(logits).reshape(-1, logits.shape[-1])[-1].argmax())


class DecoderFunctions:
    """A converted decoder's ``prefill`` and ``decode`` functions, loaded once by the reference
    executor (``models``: role -> ``ReferenceModel``; ``names``: role -> function name). Pass
    it as ``converted`` to run several loops without loading the model again. A model without
    functions runs its one function for both roles."""

    def __init__(self, converted, *, prefill: str | None = "prefill",
                 decode: str | None = "decode", fp16_mode: str = "typed"):
        self.models, self.names = _converted_functions(converted, prefill, decode, fp16_mode)


def _converted_functions(converted, prefill, decode, fp16_mode) -> tuple[dict, dict]:
    """Role (``prefill``, ``decode``) -> ``ReferenceModel``, and role -> function name."""
    from .coreml.loading import load_model
    from .reference import ReferenceModel

    loaded = guarded("converted model", lambda: load_model(converted))
    functions = [f.name for f in loaded.spec.description.functions]
    models, names = {}, {}
    for role, function in (("prefill", prefill), ("decode", decode)):
        if functions and function not in functions:
            raise CheckError(f"{loaded.name}: no function {function!r} for {role}; the model "
                             f"has {', '.join(functions)} (pass {role}=...)")
        function = function if functions else None
        model = guarded(loaded.name, lambda f=function: ReferenceModel(
            loaded, function_name=f, fp16_mode=fp16_mode))
        if not model.states:
            raise CheckError(f"{loaded.name}: function {function or 'main'!r} declares no "
                             "state; a decode loop needs the cache in Core ML states "
                             "(ct.StateType)")
        models[role], names[role] = model, function or "main"
    return models, names


def decode_precision(spec) -> str:
    """``"fp16"`` when an ML program computes in fp16; an fp16 value that only stores or
    fetches a state (``read_state``, ``write_state``, ``cast``) does not count."""
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if op.type in _STATE_STORAGE_OPS:
                    continue
                if any(o.type.WhichOneof("type") == "tensorType"
                       and o.type.tensorType.dataType == _FP16 for o in op.outputs):
                    return "fp16"
    return "fp32"


def _fp16_code() -> int:
    from coremltools.proto import MIL_pb2

    return MIL_pb2.DataType.Value("FLOAT16")


_FP16 = _fp16_code()


def _default(precision: str, fp16_state: bool) -> Tolerance:
    """The limits when none are set; see ``FP16_STATE_DEFAULT`` for FP32 programs whose
    state is fp16."""
    if precision == "fp16":
        return PRECISION_DEFAULTS["fp16"]
    base = FP16_STATE_DEFAULT if fp16_state else PRECISION_DEFAULTS["fp32"]
    return Tolerance.layered(base, Tolerance(min_top1=1.0))


def _as_tolerance(tolerance) -> Tolerance:
    if tolerance is None:
        return Tolerance()
    if isinstance(tolerance, dict):
        return Tolerance.from_mapping(tolerance)
    return tolerance


def _result(records: list[DecodeStep], prompt, teacher_forcing, limits: Tolerance,
            step_limits: Tolerance, precision, functions: DecoderFunctions, source, output,
            name, timings, steps) -> DecodeResult:
    rows = {}
    for step in records:
        if step.metrics is None:
            continue
        label = f"{output} {step.label()}"
        rows[label] = OutputResult(label, step.metrics, step_limits,
                                   violations(label, step.metrics, step_limits),
                                   tightest_passing(step.metrics))
    model, names = functions.models["decode"], functions.names
    result = DecodeResult(
        name=name or f"decode loop {model.name}", backend="reference", platform=model.platform,
        tolerance=limits, output_results=rows, source=type(source).__name__,
        model=f"{model.name} (functions {names['prefill']}, {names['decode']})",
        inputs=f"prompt of {len(prompt)} token(s) + {steps} decode step(s), greedy",
        precision=precision, timings=timings, prompt=prompt,
        teacher_forcing=teacher_forcing, steps=records)
    result.extra_failures.extend(_loop_failures(result, limits))
    result.notes.extend(_notes(result))
    return result


def _loop_failures(result: DecodeResult, limits: Tolerance) -> list[str]:
    """Nothing compared, and top-1 agreement over the compared steps below ``min_top1``."""
    out = []
    decoded = [s for s in result.compared_steps if s.index > 0]
    if not decoded:
        why = ("steps=0" if len(result.steps) == 1 else
               "the sides were fed different tokens from step 1 on")
        out.append(f"nothing was compared: no decode step ran on the same inputs ({why})")
    agreement = result.top1_agreement
    if limits.min_top1 is not None and agreement is not None and agreement < limits.min_top1:
        first = result.steps[result.first_divergent_step]
        out.append(f"{first.label()}: top-1 token {first.converted_token} (converted) vs "
                   f"{first.source_token} (source); top-1 agreement {agreement:.3f} over "
                   f"{len(result.compared_steps)} compared step(s) < min_top1="
                   f"{limits.min_top1:g}")
    return out


def _notes(result: DecodeResult) -> list[str]:
    fed = ("both sides fed the source's tokens" if result.teacher_forcing
           else "each side fed the token it picked")
    notes = [f"{result.mode}: {fed}; {len(result.compared_steps)} of {len(result.steps)} "
             f"step(s) compared"]
    first = result.first_divergent_step
    if first is None:
        notes.append(f"generated tokens identical over {len(result.steps)} step(s): "
                     f"{result.source_tokens}")
    else:
        step = result.steps[first]
        notes.append(f"first divergent step: {step.label()}, source token {step.source_token},"
                     f" converted {step.converted_token}; source tokens {result.source_tokens},"
                     f" converted tokens {result.converted_tokens}")
        if not result.teacher_forcing and first + 1 < len(result.steps):
            notes.append(f"steps {first + 1}–{len(result.steps) - 1} not compared: the sides "
                         "were fed different tokens")
    return notes
