"""Verdicts: metrics of one output against its tolerance. Pure, no I/O."""

from __future__ import annotations

from .metrics import OutputMetrics
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
    return out
