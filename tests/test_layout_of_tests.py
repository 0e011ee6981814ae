"""Test modules import shared builders from a ``helpers`` module, never from a ``conftest``.

A ``conftest.py`` holds only fixtures and hooks; importing it as a module loads it a second
time under another name. Source text inside string literals (inner ``pytester`` sessions with
their own conftest) is not code and is not scanned.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def conftest_imports(source: str, filename: str = "<source>") -> list[str]:
    """``line: statement`` for each ``from ... import`` whose module is a conftest."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "conftest":
            found.append(f"{node.lineno}: from {'.' * node.level}{node.module} import ...")
    return found


def test_no_test_module_imports_from_a_conftest():
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        found = conftest_imports(path.read_text(encoding="utf-8"), str(path))
        if found:
            offenders[str(path.relative_to(TESTS.parent))] = found
    assert not offenders, (
        "import shared builders from the directory's helpers.py, not from a conftest: "
        f"{offenders}")


def test_the_scan_finds_conftest_imports_and_skips_strings():
    source = '''
from .conftest import run
from ..conftest import two_outputs
from tests.tensorflow.conftest import gray_cnn
from .helpers import spec
INNER = """
from conftest import Net
"""
def f():
    from conftest import Net
'''
    assert conftest_imports(source) == [
        "2: from .conftest import ...", "3: from ..conftest import ...",
        "4: from tests.tensorflow.conftest import ...", "10: from conftest import ..."]
