"""pytest plugin: every ``[[check]]`` of a ``coremlcheck.toml`` (and every
``[[tool.coremlcheck.check]]`` of a ``pyproject.toml``) is a test item.

An item runs the ``coreml_check`` fixture, so it uses the session's settings (backend,
tolerance defaults, cache, lint, gates) and records its results for the summary and the
reports exactly as a test that calls the fixture. A file that cannot be read or holds a bad
table is a collection error naming the file, the table and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import EquivalenceError
from .discovery import declares_checks

if TYPE_CHECKING:
    from .spec import DeclaredCheck


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if declares_checks(file_path):
        return DeclaredCheckFile.from_parent(parent, path=file_path)
    return None


class DeclaredCheckFile(pytest.File):
    """A TOML file of declared checks."""

    def collect(self):
        from .spec import DeclaredCheckError, read_check_file

        try:
            specs = read_check_file(self.path)
        except DeclaredCheckError as exc:
            raise self.CollectError(str(exc)) from None
        for spec in specs:
            yield DeclaredCheckItem.from_parent(self, name=spec.name, callobj=_check_function(spec))


class DeclaredCheckItem(pytest.Function):
    """One declared check; a failure shows the tolerance table, not a traceback."""

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, EquivalenceError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


def _check_function(spec: DeclaredCheck):
    """The test function of ``spec``: one ``coreml_check`` call."""
    from ..sources.loader import lazy_source

    def check(coreml_check):
        __tracebackhide__ = True
        coreml_check(lazy_source(spec.source, spec.base_dir),
                     str(spec.model) if spec.model else None,
                     inputs=spec.inputs, convert=spec.convert, tolerance=spec.tolerance,
                     name=spec.name, variants=list(spec.variants) if spec.variants else None)

    return check
