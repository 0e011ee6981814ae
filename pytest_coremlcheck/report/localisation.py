"""What the HTML report shows of a check's localisation: a per-op error chart along the program
order (SVG geometry), the ranked ops, the fixes tried with their before/after metrics."""

from __future__ import annotations

import math

from .margins import number

WIDTH, HEIGHT, PAD = 560, 170, 34
#: the chart's SNR axis (dB): values outside are drawn at its edge
LOW_DB, HIGH_DB = -20.0, 120.0
#: ranked ops listed under the chart
RANKED_SHOWN = 5


def localisation_view(localisation: dict | None) -> dict | None:
    """The localisation section of one check (None when the check was not localised)."""
    if not localisation:
        return None
    timing = localisation.get("timing") or {}
    return {
        "summary": str(localisation.get("summary", "")),
        "chart": error_chart(localisation.get("ops") or [], number(localisation.get("budget_db"))),
        "ranking": [str(op.get("message", op.get("op", "")))
                    for op in (localisation.get("ranking") or [])[:RANKED_SHOWN]],
        "fixes": [_fix_row(f) for f in localisation.get("fixes") or []],
        "hints": [str(h) for h in localisation.get("hints") or []],
        "notes": [str(n) for n in localisation.get("notes") or []],
        "cost": f"{number(timing.get('seconds')) or 0.0:.1f} s, "
                f"{timing.get('extra_runs', 0)} extra runs, "
                f"{timing.get('conversions', 0)} re-conversions",
    }


def error_chart(ops: list[dict], budget_db: float | None) -> dict | None:
    """One point per op at (program order, output SNR in dB, clipped to [LOW_DB, HIGH_DB]);
    ``over``: the op's output error exceeds the budget. None without ops."""
    if not ops:
        return None
    span = WIDTH - 2 * PAD

    def y(db: float) -> float:
        clipped = min(max(db, LOW_DB), HIGH_DB)
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (clipped - LOW_DB) / (HIGH_DB - LOW_DB),
                     2)

    points = []
    for position, op in enumerate(ops):
        snr = _snr(op.get("snr_db"))
        points.append({"x": round(PAD + span * position / max(len(ops) - 1, 1), 2), "y": y(snr),
                       "over": budget_db is not None and snr < budget_db,
                       "title": str(op.get("message", op.get("op", "")))})
    return {"width": WIDTH, "height": HEIGHT, "points": points, "ops": len(ops),
            "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
            "budget_y": y(budget_db) if budget_db is not None else None,
            "budget": f"{budget_db:.1f}" if budget_db is not None else None,
            "left": PAD, "right": WIDTH - PAD, "top": PAD, "bottom": HEIGHT - PAD,
            "low": f"{LOW_DB:g}", "high": f"{HIGH_DB:g}"}


def _snr(value) -> float:
    """An op's output SNR (dB) from the JSON ("inf", "-inf", a number); NaN reads as -inf."""
    x = number(value)
    return -math.inf if x is None or math.isnan(x) else x


def _fix_row(fix: dict) -> dict:
    """A fix tried: what, verified or not, worst-output SNR before and after (dB), its code."""
    before = (fix.get("before") or {}).get("worst_snr_db")
    after = (fix.get("after") or {}).get("worst_snr_db")
    return {"description": str(fix.get("description", fix.get("kind", ""))),
            "verified": bool(fix.get("verified")), "before": _db(before),
            "after": _db(after) if fix.get("after") else "could not re-run",
            "code": str(fix.get("code", "")), "error": str(fix.get("error") or "")}


def _db(value) -> str:
    x = number(value)
    if x is None or math.isnan(x):
        return "-"
    return f"{x:.1f}" if math.isfinite(x) else ("inf" if x > 0 else "-inf")
