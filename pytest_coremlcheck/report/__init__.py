"""Reports built from the session store: a list of check dicts (``EquivalenceResult.to_dict()``
plus ``test``), so they work the same under pytest-xdist."""

from __future__ import annotations

from pathlib import Path

from .environment import environment
from .json_report import write_json
from .markdown import write_markdown

WRITERS = {".json": write_json, ".md": write_markdown}


def write_report(path: str | Path, checks: list[dict]) -> Path:
    """Write ``checks`` to ``path`` in the format its suffix names (.json, .md)."""
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ValueError(f"report {path}: unknown format {path.suffix!r}; expected one of "
                         f"{', '.join(sorted(WRITERS))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer(path, checks, environment())
    return path


__all__ = ["write_report", "environment", "WRITERS"]
