"""Which files declare checks: ``coremlcheck.toml``, and a ``pyproject.toml`` with
``[[tool.coremlcheck.check]]`` tables (read without importing the check machinery)."""

from __future__ import annotations

from pathlib import Path

from ..lazy import toml_parser

FILE_NAME = "coremlcheck.toml"


def declares_checks(file_path: Path) -> bool:
    """True for a ``coremlcheck.toml``, and for a ``pyproject.toml`` that has
    ``tool.coremlcheck.check`` (or mentions coremlcheck but is not valid TOML, so that
    collecting it reports the syntax error)."""
    if file_path.name == FILE_NAME:
        return True
    if file_path.name != "pyproject.toml":
        return False
    return _pyproject_declares_checks(file_path)


def _pyproject_declares_checks(pyproject: Path) -> bool:
    """True when a ``pyproject.toml`` has ``tool.coremlcheck.check`` (or mentions coremlcheck
    but is not valid TOML, so that collecting it reports the syntax error)."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "coremlcheck" not in text:
        return False
    try:
        tool = toml_parser().loads(text).get("tool", {})
    except toml_parser().TOMLDecodeError:
        return True
    return isinstance(tool, dict) and "check" in (tool.get("coremlcheck") or {})
