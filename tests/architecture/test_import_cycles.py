"""The package has no import cycle, lazy (function-level) imports included: each module can be
read knowing only the modules below it."""

from __future__ import annotations

from pathlib import Path

from .imports import cycles, import_graph

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_has_no_import_cycle():
    found = cycles(import_graph(ROOT))
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_a_cycle_is_found_when_there_is_one(tmp_path):
    package = tmp_path / "pytest_coremlcheck"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def f():\n    from ..a import g\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from . import a\n")
    graph = import_graph(tmp_path)
    assert graph["pytest_coremlcheck.c"] == set()
    assert cycles(graph) == [["pytest_coremlcheck.a", "pytest_coremlcheck.sub.b"]]
