"""Progress of a check on the command line: two ways to show the callback ``(stage, done,
total)`` of ``check.progress``.

The pytest plugin sets no callback (pytest owns the terminal); the command line draws rich bars
on a terminal (``RichProgress``) and prints one plain line per finished stage otherwise
(``LineProgress``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from ..check.progress import ProgressCallback

MODES = ("auto", "bar", "lines", "off")


class LineProgress:
    """One line per finished stage, e.g. ``coremlcheck: source model 8/8``."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream

    def __call__(self, stage: str, done: int, total: int) -> None:
        if done == total:
            print(f"coremlcheck: {stage} {done}/{total}", file=self.stream or sys.stderr,
                  flush=True)


class RichProgress:
    """A rich progress bar per stage, drawn on ``console`` (default: stderr) while entered."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(),
                                 console=console or Console(stderr=True))
        self.tasks: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(task, completed=done, total=total)

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()


@contextmanager
def progress_for(mode: str, stream: IO[str] | None = None) -> Iterator[ProgressCallback | None]:
    """The callback for a command-line ``--progress`` mode: ``auto`` is ``bar`` when stderr
    is a terminal, else ``lines``."""
    if mode == "auto":
        mode = "bar" if (stream or sys.stderr).isatty() else "lines"
    if mode == "bar":
        with RichProgress() as bars:
            yield bars
    elif mode == "lines":
        yield LineProgress(stream)
    else:
        yield None
