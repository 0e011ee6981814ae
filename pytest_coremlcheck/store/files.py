"""Files every part writes and reads alike: one atomic writer and one guarded JSON reader."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: str | Path, content: str | bytes | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``content`` to ``path`` through a temporary sibling and ``os.replace``, so a reader
    never sees a half-written file and a failure leaves the previous file intact.

    ``content``: text (UTF-8, ``\\n`` line ends), bytes, or a callable that writes to a binary
    handle (``np.savez``). The file gets the mode ``open()`` would give it: 0o666 minus the
    umask (``mkstemp`` alone makes it 0o600)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            if callable(content):
                content(out)
            else:
                out.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(temporary, 0o666 & ~umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def umask() -> int:
    """The process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_json(path: str | Path, *, what: str, expected: str, error: type[Exception]):
    """Parse the JSON file ``path``; ``error`` names ``what`` (e.g. ``"baseline b.json"``) and
    ``expected`` when it cannot be read, is not JSON, or nests too deep to parse. A missing
    file raises FileNotFoundError for the caller to word."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what}: cannot read it ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what}: not valid JSON ({exc}); expected {expected}") from None
    except RecursionError:
        raise error(f"{what}: JSON nested too deeply to read; expected {expected}") from None
