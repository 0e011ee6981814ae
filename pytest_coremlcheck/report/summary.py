"""The terminal summary of a session: one row per check and output over the store's check
dicts (test, output, backend, metrics, verdict) and a count line."""

from __future__ import annotations

from ..compare import metric_table
from . import terminal
from .labels import check_label, verdict


def summary_lines(checks: list[dict], width: int | None = None, color: bool = False,
                  show_all: bool = False) -> list[str]:
    """The table and a count line, fitted to ``width`` characters (see ``terminal``)."""
    header, rows = summary_table(checks)
    platforms = sorted({c.get("platform", "-") for c in checks if c.get("platform")})
    failed = sum(1 for c in checks if not c.get("passed"))
    footer = (f"{len(checks)} check(s), {failed} failed; ran on: "
              + "; ".join(p for p in platforms if p != "-"))
    return terminal.render(header, rows, footer, width=width, color=color, show_all=show_all)


def summary_table(checks: list[dict]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The header and the rows of the summary table, as text cells."""
    header = ("test", "output", "backend", *metric_table.NAMES, "result")
    floors = any(c.get("noise_floor") for c in checks)
    if floors:
        header = (*header[:-1], "fp32 floor→limit", header[-1])
    rows = []
    for check in checks:
        outputs = check.get("outputs") or {"-": {}}
        for name, out in outputs.items():
            floor = (floor_cell(check.get("noise_floor"), name),) if floors else ()
            rows.append((
                check_label(check),
                name,
                check.get("backend", "-"),
                *(metric_table.show(m, out.get(m)) for m in metric_table.NAMES),
                *floor,
                verdict(check, out),
            ))
    return header, rows


def floor_cell(noise_floor: dict | None, output: str) -> str:
    """``137.6→107.6`` (measured floor → min_snr_db, dB), ``fixed 85`` or ``-``."""
    if not noise_floor:
        return "-"
    if noise_floor.get("used") != "measured":
        return f"fixed {metric_table.show('snr_db', noise_floor.get('fallback_db'))}"
    floor = noise_floor.get("floors_db", {}).get(output)
    limit = noise_floor.get("limits_db", {}).get(output)
    snr = metric_table.BY_NAME["snr_db"]
    return "-" if floor is None else f"{snr.show(floor)}→{snr.show(limit)}"

