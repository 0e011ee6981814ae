"""Reports built from the session store: a list of check dicts (``EquivalenceResult.to_dict()``
plus ``test``), so they work the same under pytest-xdist.

Every format renders to text and is written by ``store.files.write_atomic`` (the one writer of
reports, baselines and goldens): a temporary file in the report's directory, then
``os.replace``, so a reader never sees a half-written report and a failure leaves the previous
report intact.

``notices``: the start-up notices of coremltools and TensorFlow, held back and named once in
the terminal summary.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from ..store.files import write_atomic

#: suffix -> the module whose ``render(checks, env, report_dir) -> str`` writes that format
FORMATS = {".json": "json_report", ".md": "markdown", ".html": "html"}


def renderer(suffix: str) -> Callable[[list[dict], dict, Path | None], str]:
    """The ``render`` function of a report suffix (imported on first use); ValueError names
    the formats for an unknown one."""
    module = FORMATS.get(suffix.lower())
    if module is None:
        raise ValueError(f"unknown format {suffix!r}; expected one of "
                         f"{', '.join(sorted(FORMATS))}")
    return import_module(f".{module}", __name__).render


def write_report(path: str | Path, checks: list[dict]) -> Path:
    """Write ``checks`` to ``path`` in the format its suffix names (.json, .md, .html).

    A Markdown report is also appended to ``$GITHUB_STEP_SUMMARY`` when that is set (once
    per process for the same content)."""
    from .environment import environment
    from .step_summary import append_step_summary

    path = Path(path)
    try:
        render = renderer(path.suffix)
    except ValueError as exc:
        raise ValueError(f"report {path}: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render(checks, environment(), path.parent))
    if path.suffix.lower() == ".md":
        append_step_summary(render(checks, environment(), None))
    return path


__all__ = ["write_report", "write_atomic", "renderer", "FORMATS"]
