"""``coremlcheck report``: re-render a stored JSON report, compare it with a baseline."""

import json

import pytest
import torch

from pytest_coremlcheck.cli import main
from pytest_coremlcheck.gates.baseline import Baseline, write_baseline

from .helpers import tiny_conv_net


@pytest.fixture(scope="module")
def stored(saved_models, tmp_path_factory):
    """A JSON report written by `coremlcheck compare`, marked as run on another OS."""
    root = tmp_path_factory.mktemp("stored")
    source = root / "net.pt"
    torch.jit.save(torch.jit.trace(tiny_conv_net(), torch.rand(1, 3, 32, 32)), str(source))
    report = root / "run.json"
    assert main(["compare", str(source), str(saved_models["image_fp32"]), "--inputs",
                 "random:2", "--report", str(report), "--backend", "reference",
                 "--progress", "off"]) == 0
    data = json.loads(report.read_text())
    data["environment"]["os"] = "Darwin 24.1 (arm64)"
    data["checks"][0]["outputs"]["probs"]["snr_db"] = 50.0  # below the 120 dB comparison cap
    report.write_text(json.dumps(data))
    return report


def test_markdown_to_stdout_keeps_the_stored_environment(stored, capsys):
    assert main(["report", str(stored)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Core ML equivalence report")
    assert "Darwin 24.1 (arm64)" in out and "ImageFP32.mlpackage" in out


def test_html_and_markdown_files(stored, tmp_path, capsys):
    assert main(["report", str(stored), "--output", str(tmp_path / "out" / "r.html")]) == 0
    page = (tmp_path / "out" / "r.html").read_text()
    assert "<html" in page and "Darwin 24.1 (arm64)" in page
    assert main(["report", str(stored), "--format", "md", "--output", str(tmp_path / "r.md")]) == 0
    assert "| probs |" in (tmp_path / "r.md").read_text()
    assert main(["report", str(stored), "--format", "md",
                 "--output", str(tmp_path / "x.html")]) == 2
    assert "does not match --format md" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "JSON nested too deeply to read"),
    ('{"format": "coremlcheck-baseline", "version": 1, "checks": {}}',
     "not a coremlcheck report (no schema_version and checks)"),
    ('{"schema_version": 99, "checks": []}', "schema_version 99 is newer than this"),
    ('{"schema_version": 1, "checks": [{"name": "x"}]}', "checks[0] lacks passed, backend"),
])
def test_files_that_are_not_reports_exit_2_naming_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "other.json"
    path.write_text(content)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"coremlcheck report: {path}: ") and message in err
    assert main(["report", str(tmp_path / "gone.json")]) == 2
    assert "gone.json: no such file" in capsys.readouterr().err


def _worse(stored, tmp_path, snr_drop):
    data = json.loads(stored.read_text())
    output = data["checks"][0]["outputs"]["probs"]
    output["snr_db"] -= snr_drop
    path = tmp_path / "new.json"
    path.write_text(json.dumps(data))
    return path


def test_baseline_regressions_exit_1(stored, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    write_baseline(baseline, Baseline().updated(json.loads(stored.read_text())["checks"]))
    assert main(["report", str(_worse(stored, tmp_path, 1.0)), "--baseline", str(baseline)]) == 0
    assert "1 check(s) compared" in capsys.readouterr().out
    assert main(["report", str(_worse(stored, tmp_path, 10.0)), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "baseline regression: coremlcheck compare [ImageFP32.mlpackage] output 'probs': " \
           "snr_db" in out and "1 regression(s)" in out
    assert main(["report", str(_worse(stored, tmp_path, 10.0)), "--baseline", str(baseline),
                 "--regression", "snr_db:-20"]) == 0


def test_another_report_as_the_baseline(stored, tmp_path, capsys):
    assert main(["report", str(_worse(stored, tmp_path, 10.0)), "--baseline", str(stored)]) == 1
    assert "snr_db" in capsys.readouterr().out
    assert main(["report", str(stored), "--baseline", str(tmp_path / "none.json")]) == 2
    assert "none.json: no such file" in capsys.readouterr().err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    assert main(["report", str(stored), "--baseline", str(deep)]) == 2
    err = capsys.readouterr().err
    assert f"baseline {deep}: JSON nested too deeply to read" in err and len(err.splitlines()) == 1
    assert main(["report", str(stored), "--baseline", str(stored), "--regression", "snr:-1"]) == 2
    assert "regression limit 'snr:-1'" in capsys.readouterr().err


def test_a_baseline_that_compares_nothing_exits_2_with_one_line(stored, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    check = json.loads(stored.read_text())["checks"][0]
    write_baseline(baseline, Baseline().updated([dict(check, name="another model")]))
    assert main(["report", str(stored), "--baseline", str(baseline)]) == 2
    captured = capsys.readouterr()
    assert "coremlcheck compare [ImageFP32.mlpackage]: no baseline" in captured.out
    assert captured.err.splitlines() == [
        "coremlcheck report: nothing was compared: none of the 1 check(s) in the report has an "
        f"entry on the same backend in {baseline}; nothing was gated"]
    other = dict(check, backend="coreml")
    write_baseline(baseline, Baseline().updated([other]))
    assert main(["report", str(stored), "--baseline", str(baseline)]) == 2
    assert "other backend: baseline from coreml" in capsys.readouterr().out
