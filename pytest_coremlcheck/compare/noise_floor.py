"""The source's own float32 noise floor, and the FP32 default tolerance derived from it.

The floor of an output is how far the float32 source is from the same source run in float64,
over the check's samples: ``floor_db = 10·log10(Σb64² / Σ(b32 − b64)²)`` (``inf`` when float32
reproduces float64 exactly). A correct FP32 conversion differs from the source by rounding of
that order; a conversion bug (a wrong approximation, a wrong constant) adds an error of its own
that does not shrink with the floor. The FP32 default therefore requires, per output,

    min_snr_db = min(floor_db − MARGIN_DB, CEILING_DB)

When the source cannot run in float64, the fixed ``FALLBACK_SNR_DB`` applies instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import json_number
from .tolerance import PRECISION_DEFAULTS, Tolerance

#: dB below the measured floor a correct conversion may land: covers reordered reductions,
#: fused batch norms and device kernels (measured gaps: 0–15 dB on the benchmark architectures).
MARGIN_DB = 30.0
#: The limit never asks for more than this (≈ 1e-6 relative RMS error, a few float32 ulps).
CEILING_DB = 120.0
#: The fixed FP32 default (``tolerance.PRECISION_DEFAULTS``), used when no floor is measured.
FALLBACK = PRECISION_DEFAULTS["fp32"]
FALLBACK_SNR_DB = FALLBACK.min_snr_db


@dataclass
class NoiseFloor:
    """Floors (dB) per output, or why none could be measured (``reason``)."""

    floors_db: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0

    @property
    def measured(self) -> bool:
        return not self.reason

    def limits_db(self) -> dict[str, float]:
        """``min_snr_db`` per output: ``min(floor − MARGIN_DB, CEILING_DB)``."""
        return {name: limit_for(floor) for name, floor in self.floors_db.items()}

    def tolerance(self) -> Tolerance:
        """The FP32 default: the fallback SNR, or one limit per output from its floor."""
        if not self.measured:
            return FALLBACK
        limits = self.limits_db()
        return Tolerance(min_snr_db=min(limits.values(), default=FALLBACK_SNR_DB),
                         min_cosine=FALLBACK.min_cosine,
                         per_output={k: Tolerance(min_snr_db=v) for k, v in limits.items()})

    def describe(self) -> str:
        """One report line: which default was used and why."""
        if not self.measured:
            return (f"FP32 default: fixed min_snr_db={FALLBACK_SNR_DB:g} (the source's float32 "
                    f"noise floor could not be measured: {self.reason})")
        parts = [f"{name} floor {_db(floor)} → min_snr_db {_db(limit_for(floor))}"
                 for name, floor in self.floors_db.items()]
        return (f"FP32 default from the source's float32 noise floor (float32 vs float64, "
                f"limit = min(floor − {MARGIN_DB:g}, {CEILING_DB:g}) dB; float64 run "
                f"{self.seconds:.2f} s): " + "; ".join(parts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "used": "measured" if self.measured else "fallback",
            "floors_db": {k: json_number(v) for k, v in self.floors_db.items()},
            "limits_db": ({k: json_number(v) for k, v in self.limits_db().items()}
                          if self.measured else {}),
            "fallback_db": FALLBACK_SNR_DB,
            "margin_db": MARGIN_DB,
            "ceiling_db": CEILING_DB,
            "reason": self.reason,
            "float64_source_s": self.seconds,
        }


def limit_for(floor_db: float) -> float:
    """``min(floor − MARGIN_DB, CEILING_DB)``, to 0.1 dB; the fallback when the floor is
    undefined."""
    if math.isnan(floor_db):
        return FALLBACK_SNR_DB
    return round(min(floor_db - MARGIN_DB, CEILING_DB), 1)


def floor_db(float32: list[np.ndarray], float64: list[np.ndarray]) -> float:
    """``10·log10(Σb64² / Σ(b32 − b64)²)`` over the samples' finite elements; ``inf`` when
    they agree exactly, NaN when no element is finite in both."""
    a = np.concatenate([np.asarray(x, np.float64).ravel() for x in float32])
    b = np.concatenate([np.asarray(x, np.float64).ravel() for x in float64])
    if a.shape != b.shape:
        return math.nan
    keep = np.isfinite(a) & np.isfinite(b)
    if not keep.any():
        return math.nan
    noise = float(np.sum((a[keep] - b[keep]) ** 2))
    signal = float(np.sum(b[keep] ** 2))
    if noise == 0.0:
        return math.inf
    return -math.inf if signal == 0.0 else 10.0 * math.log10(signal / noise)


def measure(src, feeds: list[dict[str, np.ndarray]], order: list[str],
            float32_outputs: list[list[np.ndarray]], names: list[str]) -> NoiseFloor:
    """Run ``src`` in float64 on ``feeds`` and compare with its float32 ``outputs``
    (per sample, in ``names`` order: the converted model's outputs they are matched to)."""
    started = time.perf_counter()
    try:
        float64_outputs = [src.run_float64(feed, order) for feed in feeds]
    except Exception as exc:  # any failure means: no floor, the fixed default applies
        return NoiseFloor(reason=f"the float64 run failed: {type(exc).__name__}: "
                                 f"{_first_line(exc)}", seconds=time.perf_counter() - started)
    if any(outputs is None for outputs in float64_outputs):
        return NoiseFloor(reason=f"{src.describe()} has no float64 mode")
    seconds = time.perf_counter() - started
    if len(float64_outputs[0]) != len(names):
        return NoiseFloor(reason=f"the float64 run returned {len(float64_outputs[0])} "
                                 f"output(s), expected {len(names)}", seconds=seconds)
    floors = {}
    for index, name in enumerate(names):
        floors[name] = floor_db([s[index] for s in float32_outputs],
                                [s[index] for s in float64_outputs])
    return NoiseFloor(floors_db=floors, seconds=seconds)


def _db(value: float) -> str:
    return f"{value:.1f} dB" if math.isfinite(value) else f"{value} dB"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "(no message)"
