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
