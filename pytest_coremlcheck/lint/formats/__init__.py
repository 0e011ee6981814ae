"""Output formats for lint results: ``text`` (one line per finding, like ruff/flake8), ``json``
(for tools) and ``sarif`` (SARIF 2.1.0, for GitHub code scanning).

Each module has ``render(report) -> str``.
"""

from __future__ import annotations

import importlib

from .report import LintReport

FORMATS = ("text", "json", "sarif")


def render(report: LintReport, fmt: str, **options) -> str:
    """Render ``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(f".{fmt}_format", __name__)
    return module.render(report, **options)


__all__ = ["FORMATS", "LintReport", "render"]
