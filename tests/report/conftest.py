"""A real pytest run of the plugin (pytester) with a passing check, a failing check and an
image output, written to JSON, Markdown and HTML reports."""

from __future__ import annotations

import pytest

from .helpers import INNER_CONFTEST, INNER_TESTS


@pytest.fixture
def reported_run(pytester, monkeypatch):
    """Runs the inner session once with .html, .json and two .md reports and
    ``GITHUB_STEP_SUMMARY`` set; returns (pytester, run result)."""
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "step-summary.md"))
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_models=INNER_TESTS)
    result = pytester.runpytest(
        "--coreml-backend=reference", "--coreml-cache=off", "-p", "no:cacheprovider",
        "--coreml-report=out/r.html", "--coreml-report=out/r.json",
        "--coreml-report=out/r.md", "--coreml-report=out/copy/r.md")
    return pytester, result
