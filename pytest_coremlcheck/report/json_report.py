"""Machine-readable JSON report: every check, every output, metrics, tolerances, backend."""

from __future__ import annotations

import json
from pathlib import Path

from ..metrics import json_number

SCHEMA_VERSION = 1


def build(checks: list[dict], env: dict[str, str]) -> dict:
    passed = sum(1 for c in checks if c.get("passed"))
    return {
        "schema_version": SCHEMA_VERSION,
        "environment": env,
        "summary": {"checks": len(checks), "passed": passed, "failed": len(checks) - passed},
        "metrics": METRIC_DOCS,
        "checks": checks,
    }


def write_json(path: Path, checks: list[dict], env: dict[str, str]) -> None:
    path.write_text(json.dumps(build(checks, env), indent=2, default=_default) + "\n")


def _default(value):
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
}
