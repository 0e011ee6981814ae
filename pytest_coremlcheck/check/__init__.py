"""One check: plan → build → run both sides → compare → results.

``plan`` decides what runs (source, inputs and shape cases, variants, tolerance layers);
``run`` builds the converted models and runs source and runtimes on every sample; ``assess``
compares each runtime's outputs with the source's into ``EquivalenceResult``s (``result``:
the result types); ``stages`` adds per-stage results for pipelines; ``settings.localizer``
(``localize.step``) localises failing results (where the accuracy is lost, verified fixes).
Framework- and runtime-specific code hides behind ``sources`` and ``runtimes``; conversion,
variants and the cache live in ``convert``.
"""

from __future__ import annotations

import time
from typing import Any

from ..compare.tolerance import Tolerance
from ..coreml.features import describe
from ..errors import guarded
from ..runtimes import open_runtimes, resolve_backend
from ..settings import CheckSettings
from .assess import Timings, model_facts, model_results
from .plan import make_plan
from .progress import no_progress
from .result import EquivalenceResult
from .run import build, run_converted, run_source

__all__ = ["CheckSettings", "run_check"]


def run_check(source, converted=None, *, inputs=None, convert: dict[str, Any] | None = None,
              tolerance: Tolerance | dict | None = None, name: str | None = None,
              marker_tolerance: Tolerance | None = None, settings: CheckSettings | None = None,
              variants=None, shapes: list[dict[str, tuple]] | None = None,
              source_stages: list | None = None) -> list[EquivalenceResult]:
    """Run one check: one result per converted model (a variant chain has several), runtime
    (compute unit) and input-shape case. Raises CheckError (naming the file, input or op)
    when it cannot run. With ``source_stages`` (and a converted pipeline), each stage is
    also checked against its own source stage."""
    settings = settings or CheckSettings()
    notify = settings.progress or no_progress
    timings = Timings(time.perf_counter(), 0.0)
    backend = guarded("backend", lambda: resolve_backend(settings.backend))
    plan = make_plan(source, converted, inputs=inputs, convert=convert, tolerance=tolerance,
                     name=name, marker_tolerance=marker_tolerance, variants=variants,
                     shapes=shapes, source_stages=source_stages)
    models, timings.convert_s = build(plan, settings.cache, notify)
    actual = [f.name for f in describe(models[0].loaded.spec.description.input)]
    plan.rename_inputs(actual)
    source_run = run_source(plan, actual, notify)
    runs: dict[str, list] = {}  # variant -> its runs, one per runtime (the next step's base)
    results: list[EquivalenceResult] = []
    for model in models:
        runtimes = guarded(model.label, lambda m=model: open_runtimes(
            m.model, m.loaded, backend, settings.compute_units, settings.fp16_mode,
            settings.watch_hazards, settings.bundle_dirs))
        facts = model_facts(plan, model, settings)
        for position, runtime in enumerate(runtimes):
            run = run_converted(runtime, plan, model.label, notify)
            runs.setdefault(model.name, []).append(run)
            if not plan.wants(model):
                continue
            bases = runs.get(model.variant.base) if model.variant else None
            results += model_results(plan, model, facts, run, source_run,
                                     bases[position] if bases else None, settings, timings,
                                     plan.title(models[0]), len(runtimes))
    if settings.localizer is not None and settings.localize != "off":
        settings.localizer(plan, models, results, settings)
    return results
