"""Driving a decode loop: the feeds of each call (``causal_lm_feeds``), the converted
model's ``prefill`` and ``decode`` functions loaded once (``DecoderFunctions``), one step on each
side, and ``run_decode`` / ``decode_check``, which run the loop and hand it to ``verdict``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..compare.metrics import compute
from ..compare.tolerance import Tolerance, with_default
from ..errors import CheckError, EquivalenceError, guarded
from .result import DecodeResult, DecodeStep
from .verdict import as_tolerance, decode_precision, decode_result, default_tolerance

#: value of the causal mask where a position may not attend
MASKED = -1e4


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
    user = guarded("tolerance", lambda: as_tolerance(tolerance))
    if not isinstance(converted, DecoderFunctions):
        converted = DecoderFunctions(converted, prefill=prefill, decode=decode,
                                     fp16_mode=fp16_mode)
    models, names = converted.models, converted.names
    precision = decode_precision(models["prefill"].spec)
    fp16_state = any(f.dtype == np.float16 for f in models["prefill"].states)
    limits = with_default(user, default_tolerance(precision, fp16_state))
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
                                   lambda a=conv_logits, b=src_logits: compute([(a, b)]))
        diverged = diverged or step.source_token != step.converted_token
        records.append(step)
        position += len(source_in)
        source_in = [step.source_token]
        converted_in = [step.source_token if teacher_forcing else step.converted_token]
    timings["total_s"] = time.perf_counter() - started
    return decode_result(records, prompt, teacher_forcing, limits, step_limits, precision,
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
    from ..coreml.loading import load_model
    from ..reference import ReferenceModel

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
