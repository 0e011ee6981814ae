"""Progress callbacks: plain lines off a terminal, rich bars on one, none in pytest."""

import io

from rich.console import Console

from pytest_coremlcheck import tensors
from pytest_coremlcheck.check import CheckSettings, run_check
from pytest_coremlcheck.check.progress import counted
from pytest_coremlcheck.cli.progress import LineProgress, RichProgress, progress_for

from .helpers import tiny_conv_net


def test_counted_reports_start_and_each_item():
    calls = []
    items = list(counted(["a", "b"], "stage", lambda *call: calls.append(call)))
    assert items == ["a", "b"]
    assert calls == [("stage", 0, 2), ("stage", 1, 2), ("stage", 2, 2)]


def test_a_check_reports_every_stage(saved_models):
    calls = []
    run_check(tiny_conv_net(), saved_models["image_fp32"], inputs=tensors(n=3),
              settings=CheckSettings(backend="reference", progress=lambda *c: calls.append(c)))
    stages = {stage: (done, total) for stage, done, total in calls}
    assert stages["load model"] == (1, 1)
    assert stages["source"] == (3, 3)
    converted = [s for s in stages if "on reference executor" in s]
    assert len(converted) == 1 and stages[converted[0]] == (3, 3)
    assert [c for c in calls if c[0] == "source"] == [("source", i, 3) for i in range(4)]


def test_line_progress_prints_finished_stages_only():
    stream = io.StringIO()
    lines = LineProgress(stream)
    for done in range(3):
        lines("source", done, 2)
    assert stream.getvalue() == "coremlcheck: source 2/2\n"


def test_auto_mode_off_a_terminal_is_plain_lines():
    stream = io.StringIO()
    with progress_for("auto", stream) as progress:
        assert isinstance(progress, LineProgress)
    with progress_for("off", stream) as progress:
        assert progress is None


def test_rich_progress_draws_bars_on_a_terminal_console():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, color_system=None)
    with RichProgress(console) as bars:
        bars("source", 0, 4)
        bars("source", 4, 4)
        bars("converted", 1, 4)
    text = out.getvalue()
    assert "source" in text and "4/4" in text
    assert "converted" in text and "1/4" in text
    assert "━" in text  # the bar itself


def test_pytest_checks_draw_no_progress(saved_models, pytester):
    pytester.makepyfile(f"""
        from tests.helpers import tiny_conv_net

        def test_check(coreml_check):
            coreml_check(tiny_conv_net(), {str(saved_models["image_fp32"])!r})
    """)
    result = pytester.runpytest_inprocess("--coreml-backend=reference", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "coremlcheck:" not in result.stdout.str() + result.stderr.str()
