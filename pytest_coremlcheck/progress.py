"""Progress of a check: a callback ``(stage, done, total)`` and two ways to show it.

A check calls ``CheckSettings.progress`` with ``done == 0`` when a stage starts and after each
step (one sample through one model, or one conversion). The pytest plugin sets no callback
(pytest owns the terminal); the command line draws rich bars on a terminal (``RichProgress``)
and prints one plain line per finished stage otherwise (``LineProgress``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TypeVar

ProgressCallback = Callable[[str, int, int], None]
T = TypeVar("T")
MODES = ("auto", "bar", "lines", "off")


def no_progress(stage: str, done: int, total: int) -> None:
    """The callback that shows nothing."""


def counted(items: Sequence[T], stage: str, progress: ProgressCallback) -> Iterator[T]:
    """Yield ``items``, reporting ``(stage, 0, n)`` first and ``(stage, i, n)`` after item i."""
    progress(stage, 0, len(items))
    for done, item in enumerate(items, 1):
        yield item
        progress(stage, done, len(items))


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
