"""Step 2 of a check: build the converted models, then run both sides on every sample."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compare.noise_floor import NoiseFloor
from ..compare.noise_floor import measure as measure_floor
from ..convert.cache import ConversionCache
from ..convert.chain import BuiltModel, ChainInputs, build_models
from ..coreml.hashing import inputs_hash
from ..errors import CheckError, InternalError, guarded, internal_error, is_internal
from ..inputs import Sample
from ..reference.errors import ReferenceError_
from ..runtimes import Runtime
from ..sources import SourceError
from .plan import CheckPlan
from .progress import ProgressCallback, counted


@dataclass
class SourceRun:
    """The source's outputs per case (per sample: flat list in output order), and its float32
    noise floor per case once measured."""

    outputs: list[list[list[np.ndarray]]]
    seconds: float
    input_names: list[str]  # the converted model's input names, in order
    input_hashes: list[str]  # per case (``coreml.hashing.inputs_hash``)
    floors: dict[int, NoiseFloor] = field(default_factory=dict)

    def floor(self, plan: CheckPlan, index: int, names: list[str]) -> NoiseFloor:
        """The float32 vs float64 noise floor of case ``index`` (measured once)."""
        if index not in self.floors:
            samples = plan.cases[index].samples
            self.floors[index] = measure_floor(plan.source, [s.source for s in samples],
                                               self.input_names, self.outputs[index], names)
        return self.floors[index]


@dataclass
class ConvertedRun:
    """One runtime's outputs per case (per sample: name -> value), a pipeline's per-stage
    outputs alongside, and what a failing result calls for its full hazard list."""

    runtime: Runtime
    outputs: list[list[dict[str, Any]]]
    stage_outputs: list[list[dict]]
    seconds: float
    hazard_probe: Callable[[], list[dict]] | None


def build(plan: CheckPlan, cache: ConversionCache, notify: ProgressCallback
          ) -> tuple[list[BuiltModel], float]:
    """The converted models (one, or a variant chain: bases first) and the seconds it took."""
    started = time.perf_counter()
    building = "convert model" if plan.chain or plan.converted is None else "load model"
    notify(building, 0, 1)
    inputs = ChainInputs(plan.source, plan.converted, plan.convert, plan.trace_feed,
                         plan.order, cache)
    built = guarded("conversion", lambda: build_models(inputs, plan.chain))
    notify(building, 1, 1)
    return built, time.perf_counter() - started


def run_source(plan: CheckPlan, input_names: list[str], notify: ProgressCallback) -> SourceRun:
    """The source on every sample of every case."""
    started = time.perf_counter()
    outputs = [[_source_outputs(plan, s, input_names) for s in
                counted(case.samples, f"source {case.label}".strip(), notify)]
               for case in plan.cases]
    hashes = [inputs_hash(s.coreml for s in case.samples) for case in plan.cases]
    return SourceRun(outputs, time.perf_counter() - started, input_names, hashes)


def run_converted(runtime: Runtime, plan: CheckPlan, label: str,
                  notify: ProgressCallback) -> ConvertedRun:
    """``runtime`` on every sample of every case."""
    started = time.perf_counter()
    outputs, stages = [], []
    for case in plan.cases:
        runs = [_converted_outputs(runtime, s, label) for s in counted(
            case.samples, f"{label} on {runtime.platform} {case.label}".strip(), notify)]
        outputs.append([o for o, _ in runs])
        stages.append([st for _, st in runs])
    return ConvertedRun(runtime, outputs, stages, time.perf_counter() - started,
                        _hazard_probe(runtime, plan))


def _hazard_probe(runtime: Runtime, plan: CheckPlan) -> Callable[[], list[dict]]:
    """Every sample of every case re-run under the full watch, once per runtime, when a
    result fails (the screen found the same NaN/Inf and overflows; the full watch adds
    underflow); the screen's hazards when the runtime has no full watch."""
    found: list[list[dict]] = []

    def probe() -> list[dict]:
        if not found:
            full = runtime.full_hazards([s.coreml for case in plan.cases for s in case.samples])
            found.append(full if full is not None else runtime.hazards())
        return found[0]

    return probe


def _source_outputs(plan: CheckPlan, sample: Sample, order: list[str]) -> list[np.ndarray]:
    try:
        return plan.source.run(sample.source, order)
    except SourceError as exc:
        raise CheckError(f"source model on {sample.label}: {exc}") from exc


def _converted_outputs(runtime: Runtime, sample: Sample, label: str
                       ) -> tuple[dict[str, Any], dict]:
    """The converted model's outputs, and a pipeline's per-stage outputs (else {})."""
    try:
        return runtime.predict(sample.coreml), runtime.stage_outputs()
    except ReferenceError_ as exc:
        raise CheckError(f"{exc} (sample {sample.label})") from exc
    except InternalError:
        raise
    except Exception as exc:
        if is_internal(exc):
            raise internal_error(f"{label} on {sample.label}", exc) from exc
        raise CheckError(f"{label}: prediction failed on {sample.label}: "
                         f"{type(exc).__name__}: {exc}") from exc
