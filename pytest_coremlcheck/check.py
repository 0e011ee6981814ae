"""One check, in five steps: inputs → source run + converted run → compare → result.

Everything framework- or runtime-specific hides behind ``sources`` and ``runtimes``; this
module only sequences them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from . import metrics
from .classifier_outputs import (
    classifier_probabilities,
    describe_classifier,
    label_result,
    probability_vector,
)
from .compare import tightest_passing, violations
from .inputs import Sample, as_input_source
from .model_info import compute_precision
from .reference.errors import ReferenceError_
from .reference.features import Feature, describe
from .reference.image import image_to_array
from .reference.loading import LoadedModel, load_model
from .result import CheckError, EquivalenceResult, OutputResult
from .runtimes import open_runtimes, resolve_backend
from .sources import SourceError, as_source
from .tolerance import Tolerance, default_for_precision


@dataclass
class CheckSettings:
    """Run-wide settings (command line / ini), shared by every check of a session."""

    backend: str = "auto"
    compute_units: list[str] = field(default_factory=lambda: ["ALL"])
    fp16_mode: str = "typed"
    #: record the first op whose output goes NaN/Inf or leaves the fp16 range (reference only)
    watch_hazards: bool = True
    default_tolerance: Tolerance | None = None
    #: model -> (all findings, failing findings); set by the linter's pytest plugin.
    lint: Callable[[Any], tuple[list, list]] | None = None


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
) -> list[EquivalenceResult]:
    """Run one check; one result per runtime (several when comparing compute units).

    Raises CheckError (message names the file, input or op) when the check cannot run.
    """
    settings = settings or CheckSettings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if isinstance(tolerance, dict):
        tolerance = Tolerance.from_mapping(tolerance)
    input_source = _guard("inputs", lambda: as_input_source(inputs))
    src = _guard("source model", lambda: as_source(source))
    notes: list[str] = []
    model, loaded, samples, label = _prepare(src, converted, convert, input_source, timings,
                                             notes)
    features = describe(loaded.spec.description.input)
    order = [f.name for f in features]
    t0 = time.perf_counter()
    source_outputs = [_run_source(src, s, order) for s in samples]
    timings["source_s"] = time.perf_counter() - t0
    precision = compute_precision(loaded.spec)
    layered = Tolerance.layered(settings.default_tolerance, marker_tolerance, tolerance)
    effective = default_for_precision(precision) if layered.is_empty() else layered
    backend = _guard("backend", lambda: resolve_backend(settings.backend))
    runtimes = _guard(label, lambda: open_runtimes(model, loaded, backend, settings.compute_units,
                                                   settings.fp16_mode, settings.watch_hazards))
    lint_all, lint_failing = settings.lint(model) if settings.lint else ([], [])
    results = []
    for runtime in runtimes:
        t0 = time.perf_counter()
        converted_outputs = [_run_converted(runtime, s, label) for s in samples]
        run_timings = dict(timings, converted_s=time.perf_counter() - t0)
        outputs = _compare_outputs(loaded, source_outputs, converted_outputs, effective, src)
        run_timings["total_s"] = time.perf_counter() - started
        result = EquivalenceResult(
            name=name or label,
            backend=runtime.backend,
            platform=runtime.platform,
            tolerance=effective,
            output_results=outputs,
            source=src.describe(),
            model=label,
            inputs=f"{input_source.describe()} ({len(samples)} sample(s))",
            precision=precision,
            extra_failures=[f"lint {f.id} {f.severity}: {f.message}" for f in lint_failing],
            lint=[f.to_dict() for f in lint_all],
            timings=run_timings,
            hazards=runtime.hazards() if hasattr(runtime, "hazards") else [],
        )
        result.notes.extend(notes)
        result.notes.extend(getattr(src, "layout_notes", ()))
        if layered.is_empty():
            result.notes.append(f"no tolerance configured: the {precision} default applies")
        results.append(result)
    return results


def _guard(what: str, fn: Callable):
    """Run ``fn``; turn anything it raises into a CheckError that names ``what``."""
    try:
        return fn()
    except CheckError:
        raise
    except Exception as exc:
        raise CheckError(f"{what}: {exc}") from exc


def _prepare(src, converted, convert, input_source, timings, notes):
    """The converted model (given or built), its spec, the samples and a label for it."""
    if converted is not None:
        loaded = _guard("converted model", lambda: load_model(converted))
        features = describe(loaded.spec.description.input)
        samples = _guard(f"inputs for {loaded.name}", lambda: input_source.materialize(features))
        return converted, loaded, samples, loaded.name
    from .convert.on_the_fly import convert_source, declared_features, features_from_feed

    features = declared_features(convert)
    if features is None:
        if not hasattr(input_source, "data"):
            raise CheckError("converting on the fly needs convert={'inputs': [ct.TensorType(...)"
                             ", ...]} or explicit inputs (a dict of arrays) to trace with")
        features = features_from_feed(_first_feed(input_source))
    samples = _guard("inputs", lambda: input_source.materialize(features))
    order = [f.name for f in features]
    t0 = time.perf_counter()
    model = _guard("conversion",
                   lambda: convert_source(src, convert, samples[0].source, order, notes))
    timings["convert_s"] = time.perf_counter() - t0
    loaded = load_model(model)
    target = convert.get("minimum_deployment_target") if convert else None
    label = f"converted on the fly ({loaded.spec.WhichOneof('Type')}" + (
        f", {getattr(target, 'name', target)})" if target else ")")
    _rename_inputs(samples, order, [f.name for f in describe(loaded.spec.description.input)])
    return model, loaded, samples, label


def _first_feed(input_source) -> dict[str, np.ndarray]:
    data = input_source.data
    first = data[0] if isinstance(data, (list, tuple)) else data
    if not isinstance(first, dict):
        raise CheckError("converting on the fly from an .npz needs convert={'inputs': [...]}")
    return {k: np.asarray(v) for k, v in first.items()}


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


def _run_converted(runtime, sample: Sample, label: str) -> dict[str, Any]:
    try:
        return runtime.predict(sample.coreml)
    except ReferenceError_ as exc:
        raise CheckError(f"{exc} (sample {sample.label})") from exc
    except Exception as exc:
        raise CheckError(f"{label}: prediction failed on {sample.label}: "
                         f"{type(exc).__name__}: {exc}") from exc


def _compare_outputs(loaded: LoadedModel, source_outputs, converted_outputs, tolerance,
                     src=None):
    """Results per converted output; source outputs pair with converted outputs in order.

    A classifier's predicted label takes no source output of its own: it is checked against
    the arg-max of the source output paired with the probabilities (``classifier_outputs``).
    """
    features: list[Feature] = describe(loaded.spec.description.output)
    classifier = describe_classifier(loaded.spec)
    label_feature = classifier.label if classifier and classifier.probabilities else None
    paired = [f for f in features if f.name != label_feature]
    count = len(source_outputs[0])
    if count != len(paired):
        raise CheckError(
            f"{loaded.name}: the source returns {count} output(s), the converted model declares "
            f"{len(paired)} ({', '.join(f.name for f in paired)}"
            f"{'; the predicted label is checked against them' if label_feature else ''}); "
            "outputs are matched in order"
        )
    align = getattr(src, "align_output", None)
    labels = classifier.labels if classifier else None
    results = {}
    for index, feature in enumerate(paired):
        tol = tolerance.for_output(feature.name)
        if classifier and feature.name == classifier.label:  # a label-only classifier
            results[feature.name] = label_result(
                feature.name, [c[feature.name] for c in converted_outputs],
                [s[index] for s in source_outputs], labels, tol)
            continue
        image = feature.kind == "image"
        pairs = []
        for src_out, conv_out in zip(source_outputs, converted_outputs):
            pairs.append(_pair(src_out[index], conv_out[feature.name], feature, labels, align))
        if feature.name == classifier_probabilities(classifier):
            results[label_feature] = label_result(
                label_feature, [c[label_feature] for c in converted_outputs],
                [s for _, s in pairs], labels, tolerance.for_output(label_feature))
        try:
            m = metrics.compute(pairs, atol=tol.atol, rtol=tol.rtol, image=image)
        except metrics.ShapeMismatch as exc:
            results[feature.name] = OutputResult(feature.name, None, tol,
                                                 [f"{feature.name}: {exc}"])
            continue
        results[feature.name] = OutputResult(
            feature.name, m, tol, violations(feature.name, m, tol), tightest_passing(m)
        )
    return results


def _pair(source_value: np.ndarray, converted_value, feature: Feature, labels=None,
          align=None):
    """(converted, source) arrays; images compare as 8-bit pixel values in tensor order,
    probability dictionaries as vectors in class-label order. ``align(name, source,
    converted)`` lets the source move its output into the Core ML output's layout."""
    if isinstance(converted_value, Image.Image):
        array = image_to_array(converted_value, feature.color or "RGB", None, feature.name)
        if align is not None:
            source_value = align(feature.name, source_value, array)
        return array, np.clip(np.rint(source_value), 0, 255)
    if isinstance(converted_value, dict):
        converted_value = probability_vector(converted_value, labels)
    converted_value = np.asarray(converted_value)
    if align is not None:
        source_value = align(feature.name, source_value, converted_value)
    return converted_value, source_value
