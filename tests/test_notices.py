"""coremltools' and TensorFlow's start-up notices are held back and named once, never lost."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from pytest_coremlcheck.report.notices import summary

LINUX_ONLY = pytest.mark.skipif(sys.platform == "darwin", reason="Core ML's runtime loads here")


def _coremlcheck(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("COREMLCHECK_SHOW_NOTICES", "TF_CPP_MIN_LOG_LEVEL")}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "pytest_coremlcheck.cli", *args],
                          capture_output=True, text=True, env=environment, timeout=600)


@LINUX_ONLY
def test_cli_output_has_no_start_up_notices_unless_asked(saved_models):
    model = str(saved_models["two_outputs"])
    quiet = _coremlcheck("info", model)
    assert quiet.returncode == 0, quiet.stderr
    for noise in ("Failed to load _MLModelProxy", "has not been tested with coremltools",
                  "absl::InitializeLog"):
        assert noise not in quiet.stderr + quiet.stdout
    loud = _coremlcheck("info", model, COREMLCHECK_SHOW_NOTICES="1")
    assert "Failed to load _MLModelProxy" in loud.stderr


def test_errors_written_while_tensorflow_imports_are_written_back(tmp_path):
    """Only TensorFlow's known start-up lines are held back from descriptor 2."""
    script = tmp_path / "script.py"
    script.write_text(
        "import os, sys\n"
        "from pytest_coremlcheck.report.notices import hold_back, _startup_lines_held_back\n"
        "hold_back()\n"
        "with _startup_lines_held_back():\n"
        "    os.write(2, b'I0000 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "    os.write(2, b'real trouble\\n')\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.stderr == "real trouble\n"


@LINUX_ONLY
def test_pytest_summary_names_what_was_held_back_also_under_xdist(pytester):
    pytester.makepyfile(test_uses_coremltools="""
        def test_imports():
            import coremltools
            assert coremltools.__version__
    """)
    for args in ((), ("-n", "2")):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
        result.assert_outcomes(passed=1)
        text = result.stdout.str() + result.stderr.str()
        assert "Failed to load" not in text
        start = next(i for i, line in enumerate(result.stdout.lines)
                     if line.startswith("coremlcheck held back "))
        notice = result.stdout.lines[start:start + 8]
        joined = " ".join(line.strip() for line in notice)
        assert re.search(r"held back \d+ start-up notice\(s\): .*native runtime is not "
                         r"available.*COREMLCHECK_SHOW_NOTICES=1", joined), joined
        assert all(len(line) <= 80 for line in notice)  # wrapped to the terminal


def test_summary_line_lists_untested_versions_and_is_empty_when_nothing_was_held():
    assert summary(Counter()) is None
    line = summary(Counter({"untested: Torch 2.13.0+cpu": 1,
                            "native Core ML runtime not on this OS": 8}))
    assert "9 start-up notice(s)" in line and "Torch 2.13.0+cpu" in line
