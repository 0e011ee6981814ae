"""The session store: every check's result dict, in the order tests reported them."""

from __future__ import annotations

import pytest

from .report.labels import check_label, verdict
from .result import fmt

store_key = pytest.StashKey["CheckStore"]()


class CheckStore:
    """Results of one pytest session (the controller's, under xdist)."""

    def __init__(self) -> None:
        self.checks: list[dict] = []

    def add(self, nodeid: str, entry: dict) -> None:
        self.checks.append(dict(entry, test=nodeid))

    def summary_lines(self) -> list[str]:
        """One row per check and output: test, output, backend, metrics, verdict."""
        header = ("test", "output", "backend", "max_abs", "snr_db", "psnr_db", "cosine",
                  "top1", "ssim", "result")
        rows = []
        for check in self.checks:
            outputs = check.get("outputs") or {"-": {}}
            for name, out in outputs.items():
                rows.append((
                    check_label(check),
                    name,
                    check.get("backend", "-"),
                    _num(out.get("max_abs")),
                    _num(out.get("snr_db"), 1),
                    _num(out.get("psnr_db"), 1),
                    _num(out.get("cosine"), 6),
                    _num(out.get("top1"), 4),
                    _num(out.get("ssim"), 4),
                    verdict(check, out),
                ))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        platforms = sorted({c.get("platform", "-") for c in self.checks if c.get("platform")})
        out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
        failed = sum(1 for c in self.checks if not c.get("passed"))
        out.append(f"{len(self.checks)} check(s), {failed} failed; ran on: "
                   + "; ".join(p for p in platforms if p != "-"))
        return out


def _num(value, digits: int = 3) -> str:
    if isinstance(value, str):  # "inf", "nan" from JSON-ready dicts
        return value
    return fmt(value, digits)
