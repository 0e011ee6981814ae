"""Package attributes loaded on first use (PEP 562), so importing a package stays cheap; the
TOML parser, imported when a TOML file is first read."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_attributes(package: str, names: dict[str, str], namespace: dict
                    ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: public name -> the submodule (relative to
    the package) that defines it; a loaded name is kept in ``namespace`` (the package's
    globals)."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{names[name]}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__


def toml_parser():
    """The TOML parser (``tomllib``; ``tomli`` on Python 3.10), imported when a TOML file is
    first read: its import compiles regular expressions, which a run without one skips."""
    try:
        import tomllib as parser
    except ModuleNotFoundError:  # Python 3.10
        import tomli as parser
    return parser
