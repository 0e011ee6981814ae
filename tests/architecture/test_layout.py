"""The package's layout: the top level holds only the front doors and what every part shares;
old public import paths still reach the moved objects; every module imports on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .imports import cycles, import_graph, modules

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"__init__.py", "errors.py", "hookspec.py", "lazy.py", "plugin.py", "settings.py",
             # shims kept for one release
             "result.py", "update_check.py"}

#: old path -> (new path, names it must re-export)
MOVED = {
    "pytest_coremlcheck.result": [
        ("pytest_coremlcheck.check.result", ["EquivalenceResult", "ResultSet"]),
        ("pytest_coremlcheck.compare.result", ["OutputResult"]),
        ("pytest_coremlcheck.report.failure_table", ["format_table", "localisation_line"]),
        ("pytest_coremlcheck.errors", ["CheckError", "EquivalenceError", "guarded"])],
    "pytest_coremlcheck.update_check": [
        ("pytest_coremlcheck.training.parity", ["UpdateCheck", "check_update", "TrainingPlan",
                                                "SourceTraining"]),
        ("pytest_coremlcheck.training.torch", ["torch_trainer"]),
        ("pytest_coremlcheck.training.keras", ["keras_trainer"])],
    "pytest_coremlcheck.decode": [
        ("pytest_coremlcheck.decode.loop", ["decode_check", "run_decode", "causal_lm_feeds",
                                            "DecoderFunctions"]),
        ("pytest_coremlcheck.decode.result", ["DecodeResult", "DecodeStep"])],
    "pytest_coremlcheck": [
        ("pytest_coremlcheck.check.result", ["EquivalenceResult", "ResultSet"]),
        ("pytest_coremlcheck.training.parity", ["UpdateCheck", "check_update"]),
        ("pytest_coremlcheck.decode.loop", ["decode_check", "run_decode"])],
}


def test_the_top_level_holds_only_front_doors_and_shared_modules():
    found = {p.name for p in (ROOT / "pytest_coremlcheck").glob("*.py")}
    assert found == TOP_LEVEL, (f"new top-level modules {sorted(found - TOP_LEVEL)}: give them "
                                f"a package; gone: {sorted(TOP_LEVEL - found)}")


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_public_path_reaches_the_moved_objects(old):
    for new, names in MOVED[old]:
        for name in names:
            assert getattr(import_module(old), name) is getattr(import_module(new), name), \
                f"{old}.{name} is not {new}.{name}"


def test_the_console_script_and_the_plugin_entry_point_resolve():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, _, attr = project["scripts"]["coremlcheck"].partition(":")
    from pytest_coremlcheck.cli import main

    assert getattr(import_module(module), attr) is main
    for target in project["entry-points"]["pytest11"].values():
        assert hasattr(import_module(target), "pytest_configure"), target


def _first_import_errors(root: Path, names: list[str], preload: tuple[str, ...]) -> dict:
    code = (f"import json, sys\nsys.path[:0] = [{str(root)!r}, {str(ROOT)!r}]\n"
            "from tests.architecture.imports import first_import_errors\n"
            f"print(json.dumps(first_import_errors({names!r}, {preload!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=1200, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_module_that_fails_only_when_imported_first_is_found(tmp_path):
    package = tmp_path / "pytest_coremlcheck"
    for folder, files in {"c": {"__init__.py": "from .run import go\n",
                                "run.py": "from ..d.v import V\ngo = V\n",
                                "result.py": "R = 1\n"},
                          "d": {"__init__.py": "", "v.py": "from ..c.result import R\nV = R\n"}
                          }.items():
        (package / folder).mkdir(parents=True)
        for name, text in files.items():
            (package / folder / name).write_text(text)
    (package / "__init__.py").write_text("")
    assert cycles(import_graph(tmp_path)) == []  # no module imports itself back
    names = ["pytest_coremlcheck.c", "pytest_coremlcheck.d.v"]
    failed = _first_import_errors(tmp_path, names, ())
    assert list(failed) == ["pytest_coremlcheck.d.v"] and "ImportError" in failed[names[1]]


@pytest.mark.slow
def test_every_module_imports_first():
    names = [m for m in modules(ROOT) if not m.endswith("__main__")]
    preload = ("numpy", "torch", "coremltools", "PIL.Image")
    assert _first_import_errors(ROOT, names, preload) == {}
