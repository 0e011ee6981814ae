"""The terminal summary of a session: one row per check and output over the store's check
dicts (test, output, backend, metrics, verdict) and a count line."""

from __future__ import annotations

from ..result import fmt
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
    header = ("test", "output", "backend", "max_abs", "rmse", "snr_db", "psnr_db", "cosine",
              "top1", "ssim", "result")
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
                _num(out.get("max_abs")),
                _num(out.get("rmse")),
                _num(out.get("snr_db"), 1),
                _num(out.get("psnr_db"), 1),
                _num(out.get("cosine"), 6),
                _num(out.get("top1"), 4),
                _num(out.get("ssim"), 4),
                *floor,
                verdict(check, out),
            ))
    return header, rows


def floor_cell(noise_floor: dict | None, output: str) -> str:
    """``137.6→107.6`` (measured floor → min_snr_db, dB), ``fixed 85`` or ``-``."""
    if not noise_floor:
        return "-"
    if noise_floor.get("used") != "measured":
        return f"fixed {_num(noise_floor.get('fallback_db'), 1)}"
    floor = noise_floor.get("floors_db", {}).get(output)
    limit = noise_floor.get("limits_db", {}).get(output)
    return "-" if floor is None else f"{_num(floor, 1)}→{_num(limit, 1)}"


def _num(value, digits: int = 3) -> str:
    if isinstance(value, str):  # "inf", "nan" from JSON-ready dicts
        return value
    return fmt(value, digits)
