"""Reports built from the session store: a list of check dicts (``EquivalenceResult.to_dict()``
plus ``test``), so they work the same under pytest-xdist.

Every format renders to text and is written by ``fileio.write_atomic`` (the one writer of
reports, baselines and goldens): a temporary file in the report's directory, then
``os.replace``, so a reader never sees a half-written report and a failure leaves the previous
report intact.
"""

from __future__ import annotations

from pathlib import Path

from ..fileio import write_atomic
from . import html, json_report, markdown
from .environment import environment
from .step_summary import append_step_summary

#: suffix -> ``render(checks, env, report_dir) -> str``
RENDERERS = {".json": json_report.render, ".md": markdown.render, ".html": html.render}


def write_report(path: str | Path, checks: list[dict]) -> Path:
    """Write ``checks`` to ``path`` in the format its suffix names (.json, .md, .html).

    A Markdown report is also appended to ``$GITHUB_STEP_SUMMARY`` when that is set (once
    per process for the same content)."""
    path = Path(path)
    render = RENDERERS.get(path.suffix.lower())
    if render is None:
        raise ValueError(f"report {path}: unknown format {path.suffix!r}; expected one of "
                         f"{', '.join(sorted(RENDERERS))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render(checks, environment(), path.parent))
    if render is markdown.render:
        append_step_summary(markdown.render(checks, environment(), None))
    return path


__all__ = ["write_report", "write_atomic", "environment", "RENDERERS"]
