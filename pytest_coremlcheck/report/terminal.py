"""The terminal summary table, drawn with rich to fit the terminal.

Columns keep their order on screen; when the table is wider than the terminal, columns are left
out lowest priority first (``PRIORITY``) and named in a line under the table. With ``show_all``
every column stays and rich wraps the cells instead.
"""

from __future__ import annotations

import io
import re
import textwrap

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Columns never left out; the others are left out from the end of PRIORITY.
KEPT = ("test", "output", "result")
PRIORITY = ("test", "output", "result", "backend", "snr_db", "cosine", "max_abs", "psnr_db",
            "top1", "ssim", "rmse", "fp32 floor→limit")
VERDICT_STYLES = {"ok": "green", "FAIL": "red", "FAIL (check)": "red", "ERROR": "bold red"}
UNLIMITED = 100_000
LABEL_MIN = 24
TRAILING = re.compile(r"(?:\s|\x1b\[[0-9;]*m)+$")
RESET = "\x1b[0m"
DASHED_HEAD = box.Box("    \n    \n -- \n    \n    \n -- \n    \n    \n", ascii=True)


def render(header: tuple[str, ...], rows: list[tuple[str, ...]], footer: str, *,
           width: int | None = None, color: bool = False, show_all: bool = False) -> list[str]:
    """The table's lines, at most ``width`` characters wide (``None``: as wide as it needs),
    with ANSI colours around the verdicts when ``color``."""
    console = _console(width or UNLIMITED, color)
    shown = list(header) if show_all or width is None else _fitting(header, rows, width)
    wrapping = _wrapping(header, rows, shown, width) if width else ()
    with console.capture() as captured:
        console.print(_table(header, rows, shown, wrapping))
    lines = [_rstrip(line) for line in captured.get().splitlines()]
    left_out = [name for name in header if name not in shown]
    notes = [footer]
    if left_out:
        notes.append(f"columns left out to fit {width} characters: {', '.join(left_out)}; "
                     "-v shows all")
    return lines + [part for note in notes for part in _wrap(note, width)]


def _console(width: int, color: bool) -> Console:
    """A console writing nowhere (output is captured) with pytest's colour decision."""
    return Console(file=io.StringIO(), width=width, color_system="standard" if color else None,
                   force_terminal=color, no_color=not color, highlight=False, emoji=False,
                   markup=False, legacy_windows=False)


def _fitting(header, rows, width: int) -> list[str]:
    """The columns to show: all, less the lowest-priority ones until the table fits."""
    shown = list(header)
    droppable = [name for name in reversed(PRIORITY) if name in header and name not in KEPT]
    while droppable and _fitting_width(header, rows, shown) > width:
        shown.remove(droppable.pop(0))
    return shown


def _natural_width(header, rows, shown: list[str], wrapping=("test",)) -> int:
    """Characters the table takes when no cell wraps."""
    return _console(UNLIMITED, False).measure(_table(header, rows, shown, wrapping)).maximum


def _fitting_width(header, rows, shown: list[str]) -> int:
    """Characters the table takes when labels wrap at their blanks only (``[fp16]`` goes to the
    next line) and no other cell wraps."""
    labels = [header[0], *(row[0] for row in rows)]
    words = max(len(word) for label in labels for word in label.split())
    return _natural_width(header, rows, shown) - max(map(len, labels)) + words


def _wrapping(header, rows, shown: list[str], width: int) -> tuple[str, ...]:
    """Only the label and output cells wrap when the other columns fit whole beside a label of
    ``LABEL_MIN`` characters; else every cell may wrap."""
    table = _natural_width(header, rows, shown)
    label = max(len(row[0]) for row in [header, *rows])
    return ("test", "output") if table - label + LABEL_MIN <= width else tuple(shown)


def _table(header, rows, shown: list[str], wrapping) -> Table:
    """Columns two spaces apart, a rule of dashes under the header; cells are plain text (a
    label's ``[fp16]`` is not markup); cells of the ``wrapping`` columns fold when too long."""
    table = Table(box=DASHED_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold")
    index = [header.index(name) for name in shown]
    for name in shown:
        table.add_column(name, overflow="fold", no_wrap=name not in wrapping)
    for row in rows:
        table.add_row(*(_cell(header[i], row[i]) for i in index))
    return table


def _cell(column: str, value: str) -> Text:
    style = VERDICT_STYLES.get(value, "") if column == "result" else ""
    return Text(value, style=style)


def _rstrip(line: str) -> str:
    """The line without trailing blanks, also those inside a styled cell's padding."""
    stripped = TRAILING.sub("", line)
    return stripped + RESET if "\x1b[" in stripped else stripped


def _wrap(note: str, width: int | None) -> list[str]:
    return textwrap.wrap(note, width) if width else [note]
