"""The one table of metrics: name, tolerance field, direction, unit, how it is shown, and its
formula. The terminal, the failure message, Markdown, HTML, JUnit and the verdicts read it.

Formulas (``a`` converted, ``b`` source, over the finite pairs of an output):

- ``max_abs`` = max |a − b|;  ``rmse`` = √(mean (a − b)²)
- ``snr_db`` = 10·log10(Σb² / Σ(a − b)²), dB
- ``psnr_db`` = 20·log10(peak) − 10·log10(mean (a − b)²), dB; peak = max(b) − min(b), 255 for
  images
- ``cosine`` = a·b / (‖a‖‖b‖) of the flattened output, worst sample
- ``top1`` = fraction of rows whose arg-max agrees
- ``ssim`` = structural similarity of 8-bit images, worst sample
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric of an output comparison."""

    name: str  # key in OutputMetrics, JSON reports and baselines
    label: str  # how messages name it
    tolerance_field: str | None  # the Tolerance field that limits it (None: reported only)
    higher_is_better: bool
    unit: str  # appended to values in messages ("" or " dB")
    decimals: int | None  # decimals shown; None: 3 significant digits
    #: drop trailing zeros (similarities: ``1``, ``0.999985``; never a value < 1 as ``1``)
    trim: bool
    key: bool  # a key metric: one JUnit property per output
    formula: str

    def show(self, value) -> str:
        """``value`` as tables show it; ``-`` when undefined. A similarity below 1 never shows
        as 1 (more decimals are used until it differs)."""
        if value is None:
            return "-"
        if isinstance(value, str):  # "inf", "nan" from JSON-ready dicts
            return value
        if math.isinf(value) or math.isnan(value):
            return str(value)
        if self.decimals is None:
            return f"{value:.3g}"
        text = f"{value:.{self.decimals}f}"
        decimals = self.decimals
        while value < 1.0 <= float(text) and decimals < 15:
            decimals += 1
            text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if self.trim and "." in text else text


METRICS: tuple[Metric, ...] = (
    Metric("max_abs", "max_abs", None, False, "", None, False, True, "max |a − b|"),
    Metric("rmse", "RMSE", None, False, "", None, False, False, "√(mean (a − b)²)"),
    Metric("snr_db", "SNR", "min_snr_db", True, " dB", 1, False, True, "10·log10(Σb² / Σ(a − b)²)"),
    Metric("psnr_db", "PSNR", "min_psnr_db", True, " dB", 1, False, True,
           "20·log10(peak) − 10·log10(mean (a − b)²)"),
    Metric("cosine", "cosine", "min_cosine", True, "", 7, True, True, "a·b / (‖a‖‖b‖)"),
    Metric("top1", "top-1 agreement", "min_top1", True, "", 4, True, True,
           "fraction of rows whose arg-max agrees"),
    Metric("ssim", "SSIM", "min_ssim", True, "", 7, True, False, "structural similarity (8-bit)"),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
#: metric names in table order
NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
#: metrics that a tolerance field limits from below
LIMITED: tuple[Metric, ...] = tuple(m for m in METRICS if m.tolerance_field)


def show(name: str, value) -> str:
    """``value`` of metric ``name`` as tables show it."""
    return BY_NAME[name].show(value)
