"""Reports built from the session store: a list of check dicts (``EquivalenceResult.to_dict()``
plus ``test``), so they work the same under pytest-xdist.

Every format renders to text and is written by ``write_atomic``: a temporary file in the
report's directory, then ``os.replace``, so a reader never sees a half-written report and a
failure leaves the previous report intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary sibling and ``os.replace``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (mkstemp creates files 0600; reports get the usual mode)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


__all__ = ["write_report", "write_atomic", "environment", "RENDERERS"]
