"""Comparison metrics between a converted model's output ``a`` and the source's ``b``.

Pure numpy, float64, on flattened arrays; one call aggregates every input sample of a check:

- ``max_abs``  = max |a - b|
- ``mismatch_ratio`` = share of elements with |a - b| > atol + rtol·|b| (when atol/rtol given)
- ``rmse``     = sqrt(mean((a - b)²))
- ``snr_db``   = 10·log10(Σb² / Σ(a - b)²)                       (+inf when a == b)
- ``psnr_db``  = 20·log10(peak) - 10·log10(MSE), peak = max(b) - min(b), or 255 for images
- ``cosine``   = a·b / (‖a‖‖b‖), the worst (lowest) over samples
- ``top1``     = share of rows whose argmax agrees, for classifier-shaped outputs
                 (shape (C,) or (N, C) after dropping leading 1s, C ≥ 2)
- ``ssim``     = structural similarity of image outputs (scikit-image, the ``ssim`` extra; None
                 without it), 8-bit, data range
                 255, 7x7 windows), the worst (lowest) over samples
- ``error_histogram`` = counts of |a - b| per bin of ``HISTOGRAM_EDGES``: [0, 1e-8), [1e-8, 1e-7),
                 …, [10, 100) and the overflow bin [100, inf); every finite element is counted
                 once, so the counts sum to ``elements``

Every metric above covers the positions where both sides are finite (``elements`` of
``values``); the others are counted, never compared:

- ``matched_inf``: ±Inf on both sides with the same sign (a masked ``-inf`` logit) — agreement;
- ``source_nan``: NaN in the source (whatever the converted value);
- ``nonfinite``: a NaN/Inf in ``a`` where ``b`` is finite, or a source ±Inf that ``a`` does
  not match in sign.

With no element compared (empty outputs, or every position non-finite) the metrics are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

IMAGE_PEAK = 255.0

#: Bin edges of ``error_histogram`` (absolute error, the output's units; pixels for images):
#: 0, then decades 1e-8 … 1e2, then +inf for the overflow bin. Bins are half-open [lo, hi).
HISTOGRAM_EDGES = (0.0, *(10.0 ** k for k in range(-8, 3)), math.inf)
_FINITE_EDGES = np.asarray(HISTOGRAM_EDGES[:-1])


class ShapeMismatch(ValueError):
    """The converted output's shape cannot be compared with the source output's."""


@dataclass(frozen=True)
class OutputMetrics:
    """Metrics of one output over all samples of a check."""

    max_abs: float
    rmse: float
    snr_db: float
    psnr_db: float
    cosine: float
    top1: float | None
    mismatch_ratio: float | None
    nonfinite: int
    elements: int
    samples: int
    shape: tuple[int, ...]
    image: bool = False
    ssim: float | None = None
    #: counts of |a - b| per bin of HISTOGRAM_EDGES (len(HISTOGRAM_EDGES) - 1 bins)
    error_histogram: tuple[int, ...] = ()
    #: positions where the source is NaN (left out of every metric)
    source_nan: int = 0
    #: positions where both sides hold the same infinity (agreement, left out of every metric)
    matched_inf: int = 0
    #: every position of every sample, compared or not
    values: int = 0

    def to_dict(self) -> dict:
        """JSON-ready dict; infinities and NaN become the strings "inf", "-inf", "nan".
        ``error_histogram`` becomes ``{"edges": [0, 1e-08, …, 100.0, "inf"], "counts": […]}``."""
        out = asdict(self)
        out["shape"] = list(self.shape)
        out = {k: json_number(v) for k, v in out.items()}
        out["error_histogram"] = {"edges": [json_number(e) for e in HISTOGRAM_EDGES],
                                  "counts": list(self.error_histogram)}
        return out


def json_number(value):
    """Floats that JSON cannot hold as strings; anything else unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def aligned(converted: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 of one shape; leading/trailing size-1 axes may differ.

    Raises ShapeMismatch when the shapes differ in more than size-1 axes.
    """
    a = np.asarray(converted)
    b = np.asarray(source)
    if a.shape != b.shape:
        if a.size != b.size or _squeezed(a.shape) != _squeezed(b.shape):
            raise ShapeMismatch(f"converted shape {a.shape} vs source shape {b.shape}")
        a = a.reshape(b.shape)
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def _squeezed(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def compute(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    atol: float | None = None,
    rtol: float | None = None,
    image: bool = False,
) -> OutputMetrics:
    """Metrics over ``pairs`` of (converted, source) arrays, one pair per input sample."""
    if not pairs:
        raise ValueError("no samples to compare")
    sq_err = sq_ref = 0.0
    max_abs = 0.0
    count = nonfinite = mismatches = source_nan = matched_inf = values = 0
    ref_min, ref_max = math.inf, -math.inf
    cosine = 1.0
    top1_hits = top1_rows = 0
    ssim = None
    shape: tuple[int, ...] = ()
    histogram = np.zeros(len(HISTOGRAM_EDGES) - 1, np.int64)
    for converted, source in pairs:
        a, b = aligned(converted, source)
        shape = b.shape
        values += b.size
        a, b, counts = _finite_pair(a.ravel(), b.ravel())
        nonfinite += counts[0]
        source_nan += counts[1]
        matched_inf += counts[2]
        if a.size == 0:
            continue
        diff = np.abs(a - b)
        largest = float(diff.max())
        max_abs = max(max_abs, largest)
        histogram += error_histogram(diff, largest)
        sq_err += float(np.dot(a - b, a - b))
        sq_ref += float(np.dot(b, b))
        count += a.size
        ref_min = min(ref_min, float(b.min()))
        ref_max = max(ref_max, float(b.max()))
        cosine = min(cosine, _cosine(a, b))
        if atol is not None or rtol is not None:
            limit = (atol or 0.0) + (rtol or 0.0) * np.abs(b)
            mismatches += int(np.count_nonzero(diff > limit))
        if image and ssim_available():
            value = _ssim(np.asarray(converted), np.asarray(source))
            ssim = value if ssim is None else min(ssim, value)
        rows = _classifier_rows(shape)
        if rows is not None:
            av, bv = np.asarray(converted).reshape(rows), np.asarray(source).reshape(rows)
            top1_hits += int(np.count_nonzero(av.argmax(-1) == bv.argmax(-1)))
            top1_rows += rows[0]
    mse = sq_err / count if count else math.nan
    peak = IMAGE_PEAK if image else _peak(ref_min, ref_max)
    return OutputMetrics(
        max_abs=max_abs if count else math.nan,
        rmse=math.sqrt(mse),
        snr_db=_ratio_db(sq_ref, sq_err) if count else math.nan,
        psnr_db=_ratio_db(peak * peak, mse) if count else math.nan,
        cosine=cosine if count else math.nan,
        top1=top1_hits / top1_rows if top1_rows else None,
        mismatch_ratio=(mismatches / count if count else math.nan)
        if (atol is not None or rtol is not None)
        else None,
        nonfinite=nonfinite,
        elements=count,
        samples=len(pairs),
        shape=tuple(shape),
        image=image,
        ssim=ssim,
        error_histogram=tuple(int(c) for c in histogram),
        source_nan=source_nan,
        matched_inf=matched_inf,
        values=values,
    )


def error_histogram(abs_diff: np.ndarray, largest: float | None = None) -> np.ndarray:
    """Counts of finite, non-negative ``abs_diff`` values per bin of ``HISTOGRAM_EDGES``.

    One counting pass per edge up to ``largest`` (``abs_diff.max()``), so a typical output
    costs a few vectorised comparisons: count(bin i) = count(>= edge i) - count(>= edge i+1).
    """
    if largest is None:
        largest = float(abs_diff.max()) if abs_diff.size else 0.0
    at_least = [abs_diff.size] + [np.count_nonzero(abs_diff >= edge) if edge <= largest else 0
                                  for edge in _FINITE_EDGES[1:]]
    return np.asarray(at_least, np.int64) - np.asarray(at_least[1:] + [0], np.int64)


def ssim_available() -> bool:
    """Whether scikit-image (the ``ssim`` extra) is installed: without it ``ssim`` is None."""
    try:
        from skimage.metrics import structural_similarity  # noqa: F401
    except ImportError:
        return False
    return True


def _ssim(converted: np.ndarray, source: np.ndarray) -> float:
    """SSIM of two (…, C, H, W) 8-bit images (leading 1s dropped), channels averaged."""
    from skimage.metrics import structural_similarity

    a = np.clip(converted, 0, 255).reshape(converted.shape[-3:]).astype(np.float64)
    b = np.clip(source, 0, 255).reshape(source.shape[-3:]).astype(np.float64)
    if min(a.shape[-2:]) < 7:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(structural_similarity(a, b, data_range=255.0, channel_axis=0))


def _finite_pair(a: np.ndarray, b: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """The positions where both sides are finite, and the counts of the others:
    (converted non-finite where it should not be, source NaN, matching infinities)."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    if fa.all() and fb.all():
        return a, b, (0, 0, 0)
    source_nan = np.isnan(b)
    source_inf = np.isinf(b)
    matched = source_inf & (a == b)
    bad = (~fa & fb) | (source_inf & ~matched)
    keep = fa & fb
    counts = (int(np.count_nonzero(bad)), int(np.count_nonzero(source_nan)),
              int(np.count_nonzero(matched)))
    return a[keep], b[keep], counts


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _peak(ref_min: float, ref_max: float) -> float:
    """Dynamic range of the source; falls back to 1.0 for a constant zero output."""
    if not math.isfinite(ref_min):
        return 1.0
    span = ref_max - ref_min
    return span if span > 0 else max(abs(ref_max), abs(ref_min), 1.0)


def _ratio_db(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _classifier_rows(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(rows, classes) for (C,) or (N, C) outputs after dropping leading 1s; else None."""
    dims = list(shape)
    while len(dims) > 1 and dims[0] == 1:
        dims.pop(0)
    if len(dims) == 1 and dims[0] >= 2:
        return (1, dims[0])
    if len(dims) == 2 and dims[1] >= 2:
        return (dims[0], dims[1])
    return None
