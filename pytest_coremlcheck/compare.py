"""Verdicts: outputs against tolerances, and variant steps against each other. No I/O."""

from __future__ import annotations

import numpy as np
from PIL import Image

from . import metrics
from .classifier_outputs import ClassifierOutputs, dictionary_view, label_result, probability_vector
from .metrics import OutputMetrics
from .reference.image import image_to_array
from .result import CheckError, OutputResult
from .tolerance import Tolerance


def violations(name: str, m: OutputMetrics, tol: Tolerance) -> list[str]:
    """Human-readable reasons ``m`` breaks ``tol`` (empty when it passes).

    A NaN/Inf in the converted output where the source is finite always fails.
    """
    out = []
    if m.nonfinite:
        out.append(f"{name}: {m.nonfinite} NaN/Inf value(s) where the source output is finite")
    if m.mismatch_ratio is not None and m.mismatch_ratio > tol.mismatch_ratio:
        out.append(
            f"{name}: {m.mismatch_ratio:.2%} of elements exceed atol={tol.atol or 0:g} "
            f"rtol={tol.rtol or 0:g} (allowed {tol.mismatch_ratio:.2%}; max_abs={m.max_abs:.3g})"
        )
    checks = (
        ("min_snr_db", m.snr_db, "SNR", " dB"),
        ("min_psnr_db", m.psnr_db, "PSNR", " dB"),
        ("min_cosine", m.cosine, "cosine", ""),
        ("min_top1", m.top1, "top-1 agreement", ""),
        ("min_ssim", m.ssim, "SSIM", ""),
    )
    for field, value, label, unit in checks:
        limit = getattr(tol, field)
        if limit is None:
            continue
        if value is None:
            out.append(f"{name}: {label} is undefined for shape {m.shape} but {field} is set")
        elif value < limit:
            out.append(f"{name}: {label} {value:.6g}{unit} < {field}={limit:g}{unit}")
    return out


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
        if feature.kind == "image" and result.metrics is not None and keep_pictures is not None:
            result.artifacts = keep_pictures(feature.name, pairs, result.passed)
        results[feature.name] = result
    return results


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
    return OutputResult(name, m, tol, violations(name, m, tol), tightest_passing(m))


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
