"""``package.module:attr.path`` text naming Python code, for the command line and declarative
gates.

The module is imported with ``base_dir`` first on ``sys.path`` (as ``python -m`` puts the working
directory first). A function or class found there is called without arguments and its result
is the object; any other object is used as it is.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CheckError

_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class SpecError(CheckError):
    """Text that names no file, or whose module, attribute or callable failed."""


def is_module_spec(text: str, base_dir: str | Path = ".") -> bool:
    """True for ``module:attr`` text that is not an existing path below ``base_dir``."""
    return bool(_SPEC.match(text)) and not (Path(base_dir) / text).exists()


def load_object(text: str, base_dir: str | Path, what: str) -> Any:
    """The object ``module:attr`` names (called when it is a function or class); SpecError
    names ``what`` (e.g. "source"), the module or attribute, and the cause."""
    module_name, _, attr_path = text.partition(":")
    root = str(Path(base_dir).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        obj = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        raise SpecError(f"{what} {text}: cannot import module {module_name!r} from {root}: "
                        f"{_raised(exc)}") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"{what} {text}: {getattr(obj, '__name__', obj)!s} has no "
                            f"attribute {part!r}")
        obj = getattr(obj, part)
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj) \
            or inspect.isbuiltin(obj):
        try:
            obj = obj()
        except (Exception, SystemExit) as exc:
            raise SpecError(f"{what} {text}: calling {attr_path}() raised "
                            f"{_raised(exc)}") from exc
    return obj


def _raised(exc: BaseException) -> str:
    """``RuntimeError: text``; ``SystemExit(3) (sys.exit was called)`` for an exit."""
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) (sys.exit was called)"
    return f"{type(exc).__name__}: {exc}"


class Lazy:
    """Stands in for the object ``load()`` returns, loading it on first attribute access.

    Handed to a check in place of a source or inputs, it makes one that cannot be loaded a
    check that could not run (recorded and reported like any other), not an error before it.
    """

    def __init__(self, load: Callable[[], Any]):
        self._load = load
        self._target = None

    def resolve(self) -> Any:
        """The object itself, loaded now if it was not yet (load errors propagate)."""
        if self._target is None:
            self._target = self._load()
        return self._target

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_load", "_target"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)
