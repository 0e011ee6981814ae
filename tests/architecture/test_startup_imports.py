"""Loading the plugin (what every pytest run in a user's repository pays) imports none of the
heavy libraries: the check, the reports and the linter's rules load when first used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "torch", "PIL", "jinja2", "rich", "coremltools", "tensorflow")
PLUGINS = ("pytest_coremlcheck.plugin", "pytest_coremlcheck.lint.pytest_plugin",
           "pytest_coremlcheck.declarative.plugin")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    return [m for m in done.stdout.strip().split(",") if m]


def test_the_plugins_load_without_heavy_libraries():
    assert _loaded_after("\n".join(f"import {p}" for p in PLUGINS)) == []


def test_the_probe_sees_a_heavy_import():
    loaded = _loaded_after("import pytest_coremlcheck\npytest_coremlcheck.images")
    assert {"numpy", "PIL"} <= set(loaded)


#: Modules a run that uses none of the plugin's options never needs (the report package itself
#: loads: its ``notices`` hold back start-up notices; its formats do not).
DEFERRED = ("tomllib", "pytest_coremlcheck.gates.baseline", "pytest_coremlcheck.gates.update",
            "pytest_coremlcheck.report.json_report", "pytest_coremlcheck.report.markdown",
            "pytest_coremlcheck.report.html")
_LOADED_TEST = f'''import sys

def test_loaded():
    print("LOADED", ",".join(m for m in {DEFERRED!r} if m in sys.modules) or "-")
'''


def _deferred_loaded_in_a_run(directory, *options: str) -> list[str]:
    (directory / "test_loaded.py").write_text(_LOADED_TEST)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           *options, "test_loaded.py"], cwd=directory, capture_output=True,
                          text=True, timeout=120)
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED"))
    return [m for m in line.split()[1].split(",") if m != "-"]


def test_a_run_without_options_loads_no_toml_baseline_or_report_module(tmp_path):
    assert _deferred_loaded_in_a_run(tmp_path) == []


def test_options_that_need_them_load_them(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.coremlcheck]\ntarget = "iOS16"\n')
    (tmp_path / "baseline.json").write_text(
        '{"format": "coremlcheck-baseline", "version": 2, "checks": {}}')
    loaded = _deferred_loaded_in_a_run(tmp_path, "--coreml-baseline=baseline.json",
                                       "--coreml-report=out.json")
    # the JSON report's format loads when the session ends and writes it, after this test ran
    assert set(loaded) == {"tomllib", "pytest_coremlcheck.gates.baseline"}
