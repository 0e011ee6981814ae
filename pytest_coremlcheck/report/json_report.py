"""Machine-readable JSON report: every check, every output, metrics, tolerances, backend."""

from __future__ import annotations

import json
from pathlib import Path

from ..compare.metrics import json_number
from .labels import check_label

SCHEMA_VERSION = 1


def build(checks: list[dict], env: dict[str, str]) -> dict:
    """The report object; each check carries its ``label`` (its key in baseline files)."""
    passed = sum(1 for c in checks if c.get("passed"))
    return {
        "schema_version": SCHEMA_VERSION,
        "environment": env,
        "summary": {"checks": len(checks), "passed": passed, "failed": len(checks) - passed},
        "metrics": METRIC_DOCS,
        "checks": [dict(c, label=check_label(c)) for c in checks],
    }


def render(checks: list[dict], env: dict[str, str], report_dir: Path | None = None) -> str:
    """The JSON report's text (``report_dir`` is unused: picture paths stay as recorded)."""
    return json.dumps(build(checks, env), indent=2, default=json_default) + "\n"


def json_default(value):
    """numpy scalars and other number-likes as JSON numbers; anything else as its string."""
    return json_number(float(value)) if hasattr(value, "__float__") else str(value)


#: The metric formulas, carried in every report (a = converted, b = source, float64).
METRIC_DOCS = {
    "max_abs": "max |a - b|",
    "mismatch_ratio": "share of elements with |a - b| > atol + rtol*|b|",
    "rmse": "sqrt(mean((a - b)^2))",
    "snr_db": "10*log10(sum(b^2) / sum((a - b)^2))",
    "psnr_db": "20*log10(peak) - 10*log10(MSE); peak = max(b) - min(b), 255 for images",
    "cosine": "a.b / (|a| |b|), lowest over samples",
    "top1": "share of rows whose argmax agrees (outputs shaped (C,) or (N, C))",
    "ssim": "structural similarity of 8-bit image outputs, lowest over samples",
    "error_histogram": "counts of |a - b| in bins [edges[i], edges[i+1]): 0, 1e-8 ... 1e2, inf",
}
