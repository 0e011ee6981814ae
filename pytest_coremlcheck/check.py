"""One check, in five steps: inputs → source run + converted run → compare → result.

Everything framework- or runtime-specific hides behind ``sources`` and ``runtimes``; building
converted models (conversion, variants, cache) lives in ``convert``. This module sequences them.
A check yields one result per converted model (a variant chain has several), runtime (compute
unit) and input-shape configuration (flexible models have several).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import image_writer
from .classifier_outputs import describe_classifier
from .compare import as_array, check_output_names, compare_outputs, compare_steps
from .convert.cache import ConversionCache
from .convert.chain import BuiltModel, ChainInputs, build_models
from .convert.variants import Variant, resolve
from .errors import CheckError, guarded
from .gates.hashing import inputs_hash, model_hash
from .inputs import Sample, as_input_source
from .model_info import compute_precision
from .noise_floor import NoiseFloor
from .noise_floor import measure as measure_floor
from .progress import ProgressCallback, counted, no_progress
from .reference.errors import ReferenceError_
from .reference.features import Feature, describe
from .reference.loading import load_model
from .result import EquivalenceResult
from .runtimes import open_runtimes, resolve_backend
from .shapes import label as shape_label
from .shapes import shape_configs, with_shapes
from .sources import SourceError, as_source
from .sources.composed import ComposedSource
from .tolerance import Tolerance, default_for_precision, split_tolerance, with_default


@dataclass
class CheckSettings:
    """Run-wide settings (command line / ini), shared by every check of a session."""

    backend: str = "auto"
    compute_units: list[str] = field(default_factory=lambda: ["ALL"])
    fp16_mode: str = "typed"
    #: record the first op whose output goes NaN/Inf or leaves the fp16 range (reference only)
    watch_hazards: bool = True
    default_tolerance: Tolerance | None = None
    cache: ConversionCache = field(default_factory=lambda: ConversionCache(None, "off"))
    #: where PNGs of failing image outputs go (None: not kept)
    artifacts_dir: Path | None = None
    #: keep PNGs of passing image outputs too (an HTML report shows every image output)
    pictures_of_passing: bool = False
    #: linked-model roots: "main" for $BUNDLE_MAIN, bundle identifiers for $BUNDLE_IDENTIFIER(id)
    bundle_dirs: dict[str, str] | None = None
    #: model -> (all findings, failing findings); set by the linter's pytest plugin.
    lint: Callable[[Any], tuple[list, list]] | None = None
    #: called with (stage, done, total) as conversions and samples finish (see progress.py)
    progress: ProgressCallback | None = None


@dataclass
class _Case:
    """The samples of one input-shape configuration and the source's outputs on them."""

    label: str
    samples: list[Sample]
    source_outputs: list[list[np.ndarray]] = field(default_factory=list)


def run_check(
    source,
    converted=None,
    *,
    inputs=None,
    convert: dict[str, Any] | None = None,
    tolerance: Tolerance | dict | None = None,
    name: str | None = None,
    marker_tolerance: Tolerance | None = None,
    settings: CheckSettings | None = None,
    variants=None,
    shapes: list[dict[str, tuple]] | None = None,
    source_stages: list | None = None,
) -> list[EquivalenceResult]:
    """Run one check; raises CheckError (naming the file, input or op) when it cannot run.

    With ``source_stages`` (and a converted pipeline), the whole pipeline is checked against
    the stages composed, and each stage against its own source stage fed the inputs the
    converted stage received (reference executor).
    """
    settings = settings or CheckSettings()
    backend = guarded("backend", lambda: resolve_backend(settings.backend))
    if source_stages is not None:
        if source is not None:
            raise CheckError("pass either source or source_stages, not both")
        source = guarded("source stages", lambda: ComposedSource(source_stages))
    started = time.perf_counter()
    chain = guarded("variants", lambda: resolve(variants)) if variants else None
    shared_tolerance, per_variant = guarded("tolerance", lambda: split_tolerance(
        tolerance, [v.name for v in chain] if chain else None))
    input_source = guarded("inputs", lambda: as_input_source(inputs))
    src = guarded("source model", lambda: as_source(source))
    features = _declared_features(converted, convert, input_source, src)
    order = [f.name for f in features]
    cases = guarded("inputs", lambda: _cases(input_source, features, shapes))
    trace_feed = guarded("inputs", lambda: input_source.materialize(features)[0].source)
    t0 = time.perf_counter()
    notify = settings.progress or no_progress
    building = "convert model" if chain or converted is None else "load model"
    notify(building, 0, 1)
    cache = settings.cache if (converted is not None or hasattr(src, "fingerprint")) \
        else ConversionCache(None, "off")
    built = guarded("conversion", lambda: build_models(
        ChainInputs(src, converted, convert, trace_feed, order, cache), chain))
    notify(building, 1, 1)
    convert_s = time.perf_counter() - t0
    actual = [f.name for f in describe(built[0].loaded.spec.description.input)]
    for case in cases:
        _rename_inputs(case.samples, order, actual)
    t0 = time.perf_counter()
    for case in cases:
        case.source_outputs = [_run_source(src, s, actual) for s in
                               counted(case.samples, f"source {case.label}".strip(), notify)]
    source_s = time.perf_counter() - t0
    input_hashes = [inputs_hash(s.coreml for s in case.samples) for case in cases]
    requested = set(_requested_names(variants)) if variants else None
    floors: dict[int, NoiseFloor] = {}  # case index -> the source's float32 noise floor
    results: list[EquivalenceResult] = []
    previous: dict[str, list] = {}  # variant -> per runtime (by position): outputs per case
    title = name or (built[0].label if not chain else "converted on the fly"
                     if converted is None else built[0].loaded.name)
    for model in built:
        runtimes = guarded(model.label, lambda m=model: open_runtimes(
            m.model, m.loaded, backend, settings.compute_units, settings.fp16_mode,
            settings.watch_hazards, settings.bundle_dirs))
        lint_all, lint_failing = settings.lint(model.model) if settings.lint else ([], [])
        precision = compute_precision(model.loaded.spec)
        layered = Tolerance.layered(settings.default_tolerance, marker_tolerance,
                                    shared_tolerance, per_variant.get(model.name))
        default = None if _precision_default(model) else model.variant.tolerance
        outputs_features = describe(model.loaded.spec.description.output)
        check_output_names(layered, outputs_features, model.label)
        classifier = describe_classifier(model.loaded.spec)
        adaptive = not layered.has_limits() and default is None and precision != "fp16"
        if adaptive:
            names = _matched_names(outputs_features, classifier)
            for index, case in enumerate(cases):
                if index not in floors:
                    floors[index] = measure_floor(src, [s.source for s in case.samples], actual,
                                                  case.source_outputs, names)
        digest = model_hash(model.loaded)
        for position, runtime in enumerate(runtimes):
            probe = _hazard_probe(runtime, cases)
            t0 = time.perf_counter()
            staged = [[_run_converted(runtime, s, model.label) for s in counted(
                case.samples, f"{model.label} on {runtime.platform} {case.label}".strip(), notify)]
                for case in cases]
            per_case = [[outputs for outputs, _ in runs] for runs in staged]
            converted_s = time.perf_counter() - t0
            previous.setdefault(model.name, []).append(per_case)
            if requested is not None and model.name not in requested:
                continue
            base_runs = previous.get(model.variant.base) if model.variant else None
            base_outputs = base_runs[position] if base_runs else None
            for index, case in enumerate(cases):
                floor = floors.get(index) if adaptive else None
                effective = with_default(layered, default if default is not None
                                         else default_for_precision(precision, floor))
                result_name = _result_name(title, model, case, len(cases), runtimes, runtime)
                pictures = image_writer(settings.artifacts_dir, result_name,
                                        passing=settings.pictures_of_passing)
                result = EquivalenceResult(
                    name=result_name,
                    backend=runtime.backend,
                    platform=runtime.platform,
                    tolerance=effective,
                    output_results=compare_outputs(outputs_features, case.source_outputs,
                                                   per_case[index], effective, model.label,
                                                   pictures, classifier=classifier,
                                                   align=getattr(src, "align_output", None)),
                    source=src.describe(),
                    model=model.label,
                    inputs=f"{input_source.describe()} ({len(case.samples)} sample(s))",
                    precision=precision,
                    extra_failures=[f"lint {f.id} {f.severity}: {f.message}"
                                    for f in lint_failing],
                    lint=[f.to_dict() for f in lint_all],
                    hazards=runtime.hazards() if hasattr(runtime, "hazards") else [],
                    variant=model.variant.name if model.variant else None,
                    step=_step(model.variant),
                    shape=case.label,
                    timings={"convert_s": convert_s, "source_s": source_s,
                             "converted_s": converted_s,
                             "total_s": time.perf_counter() - started,
                             **({"float64_source_s": floor.seconds} if floor else {})},
                    noise_floor=floor.to_dict() if floor else None,
                )
                result.model_hash, result.inputs_hash = digest, input_hashes[index]
                result.hazard_probe = probe
                result.attach_full_hazards()
                result.converted_outputs = [
                    {f.name: as_array(o[f.name], f, classifier.labels if classifier else None)
                     for f in outputs_features if f.name in o} for o in per_case[index]]
                if base_outputs is not None:
                    result.step_outputs = compare_steps(outputs_features, base_outputs[index],
                                                        per_case[index])
                result.notes.extend(model.notes)
                result.notes.extend(runtime.notes() if hasattr(runtime, "notes") else [])
                result.notes.extend(getattr(src, "layout_notes", ()))
                if model.cached:
                    result.notes.append("converted model taken from the conversion cache")
                if not layered.has_limits():
                    what = f"variant {model.variant.name}" if model.variant else precision
                    result.notes.append(f"no tolerance configured: the {what} default applies")
                if floor is not None:
                    result.notes.append(floor.describe())
                if isinstance(src, ComposedSource) and hasattr(runtime, "stage_outputs"):
                    result.notes += [f"stage boundary {b.describe()}"
                                     for b in runtime.boundaries()]
                results.append(result)
                if isinstance(src, ComposedSource) and hasattr(runtime, "stage_outputs"):
                    results += _stage_results(src, model, runtime, case, staged[index], result,
                                              effective)
    return results


def _hazard_probe(runtime, cases: list[_Case]) -> Callable[[], list[dict]] | None:
    """What a failing result of ``runtime`` calls for its hazards: every sample of every case
    re-run under the full watch, once per runtime (the screen found the same NaN/Inf and
    overflows; the full watch adds underflow)."""
    if not hasattr(runtime, "full_hazards"):
        return None
    found: list[list[dict]] = []

    def probe() -> list[dict]:
        if not found:
            found.append(runtime.full_hazards([s.coreml for case in cases
                                               for s in case.samples]))
        return found[0]

    return probe


def _precision_default(model: BuiltModel) -> bool:
    """True when the model's default tolerance is its precision's (no variant, the fp32
    variant, or a custom variant without a tolerance of its own)."""
    variant = model.variant
    return variant is None or variant.name == "fp32" or variant.tolerance.is_empty()


def _matched_names(features, classifier) -> list[str]:
    """The converted outputs the source's outputs are matched to, in order (a classifier's
    predicted label takes no source output when its probabilities are declared)."""
    label = classifier.label if classifier and classifier.probabilities else None
    return [f.name for f in features if f.name != label]


def _stage_results(src: ComposedSource, model: BuiltModel, runtime, case: _Case, runs,
                   whole: EquivalenceResult, tolerance: Tolerance) -> list[EquivalenceResult]:
    """Each converted stage against its source stage, both fed what the converted stage got."""
    from .reference.pipeline import PIPELINE_INPUT

    stages = runtime.model.stages
    if len(stages) != len(src.stages):
        raise CheckError(f"{model.label}: the pipeline has {len(stages)} stage(s) "
                         f"({', '.join(s.name for s in stages)}), source_stages has "
                         f"{len(src.stages)}")
    specs = _stage_specs(model.loaded.spec)
    results = []
    for index, (stage, spec) in enumerate(zip(stages, specs)):
        features = describe(spec.description.output)
        source_outputs, converted = [], []
        for sample, (_, stage_outputs) in zip(case.samples, runs):
            values = []
            for name in stage.input_types:
                producer = stage.input_sources[name]
                if producer == PIPELINE_INPUT:
                    values.append(sample.source[name])
                else:
                    feature = next(f for f in describe(specs[[s.name for s in stages].index(
                        producer)].description.output) if f.name == name)
                    values.append(as_array(stage_outputs[producer][name], feature))
            source_outputs.append(guarded(f"source stage {index} ({stage.name})",
                                         lambda v=values, i=index: src.run_stage(i, v)))
            converted.append(stage_outputs[stage.name])
        results.append(EquivalenceResult(
            name=f"{whole.name} [stage {index}: {stage.name}]",
            backend=whole.backend, platform=whole.platform,
            tolerance=tolerance,
            output_results=compare_outputs(features, source_outputs, converted, tolerance,
                                           f"{model.label} stage {stage.name!r}"),
            source=src.stages[index].describe(), model=f"{model.label}, stage {stage.name!r}",
            inputs=whole.inputs, precision=stage.precision, shape=whole.shape,
            model_hash=whole.model_hash, inputs_hash=whole.inputs_hash,
            notes=["outputs declared " + ", ".join(f"{k}: {v}"
                                                   for k, v in stage.output_types.items())]))
    return results


def _stage_specs(spec) -> list:
    kind = spec.WhichOneof("Type")
    params = getattr(spec, kind)
    return list((params if kind == "pipeline" else params.pipeline).models)


def _requested_names(variants) -> list[str]:
    if isinstance(variants, dict):
        return list(variants)
    names = []
    for entry in variants:
        names.extend(entry if isinstance(entry, dict) else [entry])
    return names


def _step(variant: Variant | None) -> str | None:
    if variant is None:
        return None
    return f"{variant.base or 'source'} → {variant.name}"


def _result_name(base: str, model: BuiltModel, case: _Case, cases: int, runtimes, runtime):
    parts = []
    if model.variant is not None:
        parts.append(model.variant.name)
    if cases > 1:
        parts.append(case.label)
    if len(runtimes) > 1:
        parts.append(runtime.platform)
    return base if not parts else f"{base} [{', '.join(parts)}]"


def _declared_features(converted, convert, input_source, src) -> list[Feature]:
    """The inputs of the model to check: from the converted file, else from ``convert``, an
    explicit feed, or the inputs the source declares (Keras input shapes, an
    ExportedProgram's example inputs)."""
    if converted is not None:
        loaded = guarded("converted model", lambda: load_model(converted))
        return describe(loaded.spec.description.input)
    from .convert.on_the_fly import conversion_features

    features = guarded("convert", lambda: conversion_features(convert, input_source))
    if features is None:
        declared = getattr(src, "input_features", None)
        features = declared() if declared else None
    if features is None:
        raise CheckError("converting on the fly needs convert={'inputs': [ct.TensorType(...), "
                         "...]} or explicit inputs (a dict of arrays) to trace with: the source "
                         "declares no complete input shapes")
    return features


def _cases(input_source, features, shapes) -> list[_Case]:
    configs = shape_configs(features, shapes)
    if configs == [{}]:
        return [_Case("", input_source.materialize(features))]
    return [_Case(shape_label(c), input_source.materialize(with_shapes(features, c)))
            for c in configs]


def _rename_inputs(samples: list[Sample], declared: list[str], actual: list[str]) -> None:
    """Key samples by the converted model's input names (same order as declared)."""
    if declared == actual:
        return
    if len(declared) != len(actual):
        raise CheckError(f"the converted model has inputs {actual}, expected {declared}")
    mapping = dict(zip(declared, actual))
    for s in samples:
        s.coreml = {mapping[k]: v for k, v in s.coreml.items()}
        s.source = {mapping[k]: v for k, v in s.source.items()}


def _run_source(src, sample: Sample, order: list[str]) -> list[np.ndarray]:
    try:
        return src.run(sample.source, order)
    except SourceError as exc:
        raise CheckError(f"source model on {sample.label}: {exc}") from exc


def _run_converted(runtime, sample: Sample, label: str) -> tuple[dict[str, Any], dict]:
    """The converted model's outputs, and a pipeline's per-stage outputs (else {})."""
    try:
        outputs = runtime.predict(sample.coreml)
        stages = runtime.stage_outputs() if hasattr(runtime, "stage_outputs") else {}
        return outputs, stages
    except ReferenceError_ as exc:
        raise CheckError(f"{exc} (sample {sample.label})") from exc
    except Exception as exc:
        raise CheckError(f"{label}: prediction failed on {sample.label}: "
                         f"{type(exc).__name__}: {exc}") from exc
