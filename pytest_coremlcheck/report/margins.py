"""How far each output is from its tolerance: one row per tolerance field that is set.

margin = measured - limit for minimum fields (``min_snr_db``, ``min_cosine``, …) and
limit - measured for maximum fields (``atol`` against ``max_abs``, ``mismatch_ratio``); a
positive margin passes, a negative one fails. ``rtol`` has no margin of its own: it acts
through ``mismatch_ratio`` together with ``atol``; so does ``atol`` when ``rtol`` or a non-zero
``mismatch_ratio`` is set, and then its margin is shown without a verdict (``ok`` None).
"""

from __future__ import annotations

import math

from ..compare.metric_table import LIMITED

#: tolerance field -> (metric it limits, "min" or "max", unit)
FIELDS = {
    "atol": ("max_abs", "max", ""),
    "rtol": (None, "max", ""),
    "mismatch_ratio": ("mismatch_ratio", "max", ""),
    **{m.tolerance_field: (m.name, "min", m.unit) for m in LIMITED},
}


def number(value) -> float | None:
    """A metric from a report dict as a float ("inf", "-inf", "nan" strings too); else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def margins(output: dict) -> list[dict]:
    """Rows ``{field, metric, limit, value, margin, unit, ok}`` for the set tolerance fields of
    one output dict (``OutputResult.to_dict()``); ``value``/``margin``/``ok`` are None when
    the metric is undefined (e.g. ``top1`` of a feature map) or the field has no margin."""
    rows = []
    tolerance = output.get("tolerance", {})
    atol_alone = "rtol" not in tolerance and not tolerance.get("mismatch_ratio")
    for field, limit in tolerance.items():
        if field not in FIELDS:  # per_output: already applied to this output's tolerance
            continue
        metric, kind, unit = FIELDS[field]
        value = number(output.get(metric)) if metric else None
        margin = None
        if value is not None and not math.isnan(value):
            margin = value - limit if kind == "min" else limit - value
        decides = margin is not None and (field != "atol" or atol_alone)
        rows.append({"field": field, "metric": metric, "limit": float(limit), "value": value,
                     "margin": margin, "unit": unit, "ok": margin >= 0 if decides else None})
    return rows
