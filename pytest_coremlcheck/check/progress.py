"""Progress of a check: a callback ``(stage, done, total)``.

A check calls ``CheckSettings.progress`` with ``done == 0`` when a stage starts and after each
step (one sample through one model, or one conversion). ``cli.progress`` shows it on the
command line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

ProgressCallback = Callable[[str, int, int], None]
T = TypeVar("T")


def no_progress(stage: str, done: int, total: int) -> None:
    """The callback that shows nothing."""


def counted(items: Sequence[T], stage: str, progress: ProgressCallback) -> Iterator[T]:
    """Yield ``items``, reporting ``(stage, 0, n)`` first and ``(stage, i, n)`` after item i."""
    progress(stage, 0, len(items))
    for done, item in enumerate(items, 1):
        yield item
        progress(stage, done, len(items))
