"""Verdicts: outputs against tolerances, and variant steps against each other. No I/O."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..coreml.describe import ClassifierOutputs
from ..coreml.image import image_to_array
from ..errors import CheckError
from . import metrics
from .classifier import dictionary_view, label_result, probability_vector
from .metric_table import LIMITED
from .metrics import OutputMetrics
from .result import OutputResult
from .tolerance import Tolerance


def violations(name: str, m: OutputMetrics, tol: Tolerance, reference: str = "source"
               ) -> list[str]:
    """Human-readable reasons ``m`` breaks ``tol`` (empty when it passes).

    Whatever the limits: a NaN/Inf in the converted output that the ``reference`` (the source)
    does not hold at the same position fails; a NaN in the reference fails unless
    ``tol.allow_source_nan``; an output with no element compared fails.
    """
    out = []
    if m.nonfinite:
        out.append(f"{name}: {m.nonfinite} NaN/Inf value(s) in the converted output where the "
                   f"{reference} output holds a finite value or another infinity")
    if m.source_nan and not tol.allow_source_nan:
        out.append(f"{name}: {reference} produced NaN in output {name} ({m.source_nan} of "
                   f"{m.values} values): this input cannot certify the conversion (set "
                   "allow_source_nan for this output to leave those values out)")
    if m.elements == 0:
        out.append(f"{name}: nothing was compared ({_uncompared(m)})")
        return out
    if m.mismatch_ratio is not None and m.mismatch_ratio > tol.mismatch_ratio:
        out.append(
            f"{name}: {m.mismatch_ratio:.2%} of elements exceed atol={tol.atol or 0:g} "
            f"rtol={tol.rtol or 0:g} (allowed {tol.mismatch_ratio:.2%}; max_abs={m.max_abs:.3g})"
        )
    for metric in LIMITED:
        field, label, unit = metric.tolerance_field, metric.label, metric.unit
        value = getattr(m, metric.name)
        limit = getattr(tol, field)
        if limit is None:
            continue
        if value is None and field == "min_ssim" and m.image and not metrics.ssim_available():
            out.append(f"{name}: min_ssim is set but SSIM needs scikit-image: "
                       "pip install 'pytest-coremlcheck[ssim]'")
        elif value is None:
            out.append(f"{name}: {label} is undefined for shape {m.shape} but {field} is set")
        elif value < limit:
            out.append(f"{name}: {label} {value:.6g}{unit} < {field}={limit:g}{unit}")
    return out


def _uncompared(m: OutputMetrics) -> str:
    if m.values == 0:
        return "the output is empty"
    parts = [f"{count} {what}" for count, what in (
        (m.source_nan, "NaN in the source"), (m.matched_inf, "matching infinities"),
        (m.nonfinite, "non-finite in the converted output")) if count]
    return f"none of its {m.values} values is finite on both sides: " + ", ".join(parts)


def tightest_passing(m: OutputMetrics) -> dict[str, float]:
    """The tightest limits these metrics would still have met, per tolerance field."""
    out = {"atol": m.max_abs, "min_snr_db": m.snr_db, "min_psnr_db": m.psnr_db}
    out["min_cosine"] = m.cosine
    if m.top1 is not None:
        out["min_top1"] = m.top1
    if m.ssim is not None:
        out["min_ssim"] = m.ssim
    return out


def compare_outputs(features, source_outputs, converted_outputs, tolerance: Tolerance,
                    model_name: str, keep_pictures=None, *,
                    classifier: ClassifierOutputs | None = None, align=None) -> dict:
    """OutputResult per declared output: source outputs (lists, in order) against the
    converted model's outputs (dicts by name), over every sample.

    ``keep_pictures(output_name, pairs, passed) -> list[str]`` (optional) may keep pictures of
    an image output; the paths it returns are recorded on the OutputResult.

    For a ``classifier``, the probability dictionary compares as a vector in class-label order
    and the predicted label takes no source output of its own: it is checked against the
    arg-max of the source output paired with the probabilities (``classifier_outputs``).
    ``align(name, source, converted)`` (optional) lets the source move an output into the
    Core ML output's layout before comparison.
    """
    label = classifier.label if classifier and classifier.probabilities else None
    matched = [f for f in features if f.name != label]
    count = len(source_outputs[0])
    if count != len(matched):
        raise CheckError(
            f"{model_name}: the source returns {count} output(s), the converted model declares "
            f"{len(matched)} ({', '.join(f.name for f in matched)}"
            f"{'; its predicted label is checked against them' if label else ''}); outputs "
            "are matched in order")
    labels = classifier.labels if classifier else None
    results = {}
    for index, feature in enumerate(matched):
        tol = tolerance.for_output(feature.name)
        if classifier and feature.name == classifier.label:  # no probabilities declared
            results[feature.name] = label_result(
                feature.name, [c[feature.name] for c in converted_outputs],
                [s[index] for s in source_outputs], labels, tol)
            continue
        pairs = [paired(src[index], conv[feature.name], feature, labels, align)
                 for src, conv in zip(source_outputs, converted_outputs)]
        if label and feature.name == classifier.probabilities:
            results[label] = label_result(label, [c[label] for c in converted_outputs],
                                          [s for _, s in pairs], labels,
                                          tolerance.for_output(label))
        result = _verdict(feature.name, pairs, tol, feature.kind == "image")
        if feature.kind in ("array", "int64", "double"):
            _type_verdict(result, feature, [s[index] for s in source_outputs],
                          [c for c, _ in pairs])
        if feature.kind == "image" and result.metrics is not None and keep_pictures is not None:
            result.artifacts = keep_pictures(feature.name, pairs, result.passed)
        results[feature.name] = result
    return results


def check_output_names(tolerance: Tolerance, features, model_name: str) -> None:
    """CheckError when ``tolerance.per_output`` names an output the model does not have."""
    names = [f.name for f in features]
    unknown = [k for k in tolerance.per_output or {} if k not in names]
    if unknown:
        raise CheckError(f"{model_name}: per_output names {', '.join(map(repr, unknown))}, "
                         f"which the model does not output; its outputs are "
                         f"{', '.join(names)}")


#: largest integer magnitude each float type holds exactly (2**(mantissa bits + 1))
_EXACT_INTEGERS = {np.dtype(np.float16): 2 ** 11, np.dtype(np.float32): 2 ** 24,
                   np.dtype(np.float64): 2 ** 53}


def _type_verdict(result: OutputResult, feature, source_values, converted_values) -> None:
    """Output types are part of the verdict when the source computes integers or booleans.

    The converted output (its declared type and every returned array) must hold every value
    the source computed exactly: an integer type whose range covers them (int64 → int32 is
    what coremltools does and passes with a note when nothing overflows), float32 or float64
    only up to 2**24 / 2**53 in magnitude (a note), never float16 (exact only up to 2048:
    an index, count or mask that is fp16 breaks on larger inputs).
    """
    source = [np.asarray(v) for v in source_values]
    src_type = source[0].dtype if source else None
    if src_type is None or src_type.kind not in "biu":
        return
    declared = feature.dtype
    returned = list(dict.fromkeys(np.asarray(v).dtype for v in converted_values))
    types = [t for t in dict.fromkeys([declared, *returned]) if t is not None]
    low = min((int(v.min()) for v in source if v.size), default=0)
    high = max((int(v.max()) for v in source if v.size), default=0)
    converted = f"declares {declared}" + (
        "" if returned == [declared] else f" and returns {', '.join(map(str, returned))}")
    result.dtype = f"{src_type}→{'/'.join(map(str, types))}"
    verdicts = [_holds(kind, low, high) for kind in types]
    problems = list(dict.fromkeys(p for p, _ in verdicts if p))
    if problems:
        result.tightest = {}
        result.failures.append(f"{feature.name}: the source computes {src_type}, the converted "
                               f"model {converted}: {'; '.join(problems)}")
    elif any(t != src_type for t in types):
        note = f"the source computes {src_type}, the converted model {converted}: {verdicts[0][1]}"
        result.note = "; ".join(filter(None, [result.note, note]))


def _holds(kind: np.dtype, low: int, high: int) -> tuple[str, str]:
    """(problem, note) for integer source values in [low, high] held in ``kind``."""
    span = f"source values in [{low}, {high}]"
    if kind == np.dtype(np.float16):
        return ("float16 holds integers exactly only up to 2048, so an integer or bool "
                "output may not be float16", "")
    if kind.kind == "f":
        exact = _EXACT_INTEGERS.get(kind, 0)
        if max(abs(low), abs(high)) > exact:
            return f"{kind} holds integers exactly only up to {exact}; {span}", ""
        return "", f"every value is exact in {kind} ({span})"
    if kind.kind in "biu":
        info = np.iinfo(kind) if kind.kind != "b" else None
        lo, hi = (0, 1) if info is None else (int(info.min), int(info.max))
        if low < lo or high > hi:
            return f"{span} overflow {kind} ([{lo}, {hi}])", ""
        return "", f"every value fits {kind} ({span})"
    return f"{kind} cannot hold integers", ""


def compare_steps(features, previous_outputs, converted_outputs) -> dict:
    """Metrics of each output against the previous step of a variant chain (no verdict)."""
    out = {}
    for feature in features:
        if feature.kind == "string":  # a classifier's predicted label
            continue
        pairs = [(as_array(conv[feature.name], feature), as_array(prev[feature.name], feature))
                 for prev, conv in zip(previous_outputs, converted_outputs)]
        try:
            out[feature.name] = metrics.compute(pairs, image=feature.kind == "image")
        except metrics.ShapeMismatch:
            continue
    return out


def _verdict(name: str, pairs, tol: Tolerance, image: bool):
    try:
        m = metrics.compute(pairs, atol=tol.atol, rtol=tol.rtol, image=image)
    except metrics.ShapeMismatch as exc:
        return OutputResult(name, None, tol, [f"{name}: {exc}"])
    return OutputResult(name, m, tol, violations(name, m, tol),
                        tightest_passing(m) if tolerable(m, tol) else {})


def tolerable(m: OutputMetrics, tol: Tolerance) -> bool:
    """Whether some tolerance could pass these metrics: not with non-finite values the source
    does not hold, a source NaN not allowed, or nothing compared."""
    return not m.nonfinite and m.elements > 0 and (not m.source_nan or tol.allow_source_nan)


def paired(source_value, converted_value, feature, labels=None, align=None):
    """(converted, source) arrays; images compare as 8-bit pixel values in tensor order.
    ``align(name, source, converted)`` may move the source into the converted layout."""
    converted = as_array(converted_value, feature, labels)
    if isinstance(converted_value, dict):
        source_value = dictionary_view(source_value, labels)
    if align is not None:
        source_value = align(feature.name, source_value, converted)
    if feature.kind == "image":
        return converted, np.clip(np.rint(source_value), 0, 255)
    return converted, source_value


def as_array(value, feature, labels=None):
    """An output value as an array: PIL images in tensor channel order, dicts as values (in
    class-label order when ``labels`` are given, else in insertion order)."""
    if isinstance(value, Image.Image):
        return image_to_array(value, feature.color or "RGB", None, feature.name)
    if isinstance(value, dict):
        return probability_vector(value, labels)
    return np.asarray(value)
