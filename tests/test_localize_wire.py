"""Localisation wired into the check: the pytest option, ``assert_equivalent(localize=...)``,
the failure message, the JSON / Markdown / HTML reports and ``coremlcheck localize``, on real
fp16 conversions of a network whose hand-written RMSNorm overflows fp16 on purpose."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch

from pytest_coremlcheck import EquivalenceError, assert_equivalent, feeds
from pytest_coremlcheck.cli import main
from pytest_coremlcheck.localize.step import reconversion
from pytest_coremlcheck.settings import CheckSettings
from tests.test_localize import CONVERT, SAMPLES, TOL, _net

FP16 = dict(CONVERT, compute_precision=ct.precision.FLOAT16, convert_to="mlprogram")

#: the inner sessions import the models of test_localize
INNER = f'''
import sys
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
import coremltools as ct
from pytest_coremlcheck import feeds
from tests.test_localize import CONVERT, SAMPLES, TOL, _net

FP16 = dict(CONVERT, compute_precision=ct.precision.FLOAT16, convert_to="mlprogram")
'''

TESTS = '''
def test_overflow(coreml_check):
    from conftest import FP16, SAMPLES, TOL, _net, feeds
    coreml_check(_net(400.0), inputs=feeds(SAMPLES), convert=FP16, tolerance=TOL, name="rms")

def test_fine(coreml_check):
    from conftest import FP16, SAMPLES, TOL, _net, feeds
    coreml_check(_net(1.0), inputs=feeds(SAMPLES), convert=FP16, tolerance=TOL, name="fine")
'''


def _traced(scale: float):
    return torch.jit.trace(_net(scale), torch.from_numpy(SAMPLES[0]["x"]))


@pytest.fixture(scope="module")
def fp16_models():
    """The overflowing and the passing network, each converted once to an fp16 program."""
    return {scale: ct.convert(_traced(scale), **copy.deepcopy(FP16)) for scale in (400.0, 1.0)}


@pytest.fixture
def inner(pytester):
    """An inner session in a subprocess (in-process sessions drop the executor's op modules
    they import first)."""
    pytester.makeconftest(INNER)
    pytester.makepyfile(TESTS)
    return pytester


def _entries(cache: Path) -> int:
    """Models stored in a conversion cache directory."""
    return len(list(cache.glob("*/meta.json")))


@pytest.mark.slow
def test_failing_check_is_localised_in_message_and_reports(inner):
    cache = inner.path / "cache"
    result = inner.runpytest_subprocess("--coreml-backend=reference", f"--coreml-cache-dir={cache}",
                             "--coreml-report=out/r.json", "--coreml-report=out/r.md",
                             "--coreml-report=out/r.html", "-k", "overflow")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    line = next(x for x in text.splitlines() if "localisation (fp16)" in x)
    assert "top suspect op 'op_37_cast_fp16' (pow)" in line
    assert "verified fix: compute_precision=ct.transform.FP16ComputePrecision(" in line
    assert "('pow', '37'), ('reduce_mean', '39')" in line
    runs = int(re.search(r"\(localisation: (\d+) extra runs, [\d.]+ s\)", line).group(1))
    assert runs >= 4
    assert _entries(cache) == 2  # the check's conversion and the verified fix's

    check = json.loads((inner.path / "out" / "r.json").read_text())["checks"][0]
    assert not check["passed"]  # localisation never changes the verdict
    loc = check["localisation"]
    assert [(r["op_type"], r["op"]) for r in loc["ranking"][:2]] == [
        ("pow", "op_37_cast_fp16"), ("reduce_mean", "op_39_cast_fp16")]
    assert loc["verified_fix"]["after"]["passed"] and not loc["verified_fix"]["before"]["passed"]
    assert loc["timing"]["extra_runs"] == runs and len(loc["ops"]) > len(loc["ranking"]) > 2

    md = (inner.path / "out" / "r.md").read_text()
    assert "## Localisation" in md and "fix verified: keep 2 op(s) in fp32" in md

    html = (inner.path / "out" / "r.html").read_text()
    chart = re.search(r'<svg class="error-chart".*?</svg>', html, re.S).group(0)
    assert chart.count("<circle") == len(loc["ops"])
    over = [o for o in loc["ops"] if o["snr_db"] == "-inf" or
            (o["snr_db"] != "inf" and o["snr_db"] < loc["budget_db"])]
    assert chart.count('<circle class="over"') == len(over) >= 2
    assert re.search(r'class="over"[^>]*><title>&#39;op_37_cast_fp16&#39; \(pow\)', chart)
    fixes = re.search(r'<table class="fixes">.*?</table>', html, re.S).group(0)
    assert "verified" in fixes and "keep 2 op(s) in fp32" in fixes and "65.3" in fixes


@pytest.mark.slow
def test_off_shows_no_localisation_and_converts_once(inner):
    cache = inner.path / "cache"
    result = inner.runpytest_subprocess("--coreml-backend=reference", f"--coreml-cache-dir={cache}",
                             "--coreml-localize=off", "--coreml-report=out/r.json",
                             "-k", "overflow")
    result.assert_outcomes(failed=1)
    assert "localisation (" not in result.stdout.str()
    assert _entries(cache) == 1
    check = json.loads((inner.path / "out" / "r.json").read_text())["checks"][0]
    assert "localisation" not in check


@pytest.mark.slow
def test_passing_check_is_localised_only_under_all(inner):
    cache = inner.path / "cache"
    args = ["--coreml-backend=reference", f"--coreml-cache-dir={cache}", "-k", "fine"]
    inner.runpytest_subprocess(*args, "--coreml-report=out/default.json").assert_outcomes(passed=1)
    inner.runpytest_subprocess(*args, "--coreml-localize=all",
                    "--coreml-report=out/all.json").assert_outcomes(passed=1)
    default = json.loads((inner.path / "out" / "default.json").read_text())["checks"][0]
    every = json.loads((inner.path / "out" / "all.json").read_text())["checks"][0]
    assert "localisation" not in default
    assert every["passed"] and every["localisation"]["kind"] == "fp16"
    assert every["localisation"]["fixes"] == []  # nothing to fix on a passing check


def test_bad_localize_value_is_a_usage_error(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("--coreml-localize=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--coreml-localize" in result.stderr.str()
    pytester.makeini("[pytest]\ncoreml_localize = always\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini coreml_localize: 'always' is not one of failed, all, off" in result.stderr.str()
    with pytest.raises(ValueError, match="localize: 'never' is not one of failed, all, off"):
        CheckSettings(localize="never")


def test_assert_equivalent_localises_a_failure_and_not_under_off(fp16_models):
    net, model = _net(400.0), fp16_models[400.0]
    with pytest.raises(EquivalenceError) as failed:
        assert_equivalent(net, model, inputs=feeds(SAMPLES), tolerance=TOL, localize="off")
    assert "localisation (" not in str(failed.value)
    with pytest.raises(EquivalenceError) as localised:
        assert_equivalent(net, model, inputs=feeds(SAMPLES), tolerance=TOL)
    result = localised.value.result
    assert result.localisation["ranking"][0]["op_type"] == "pow"
    assert result.localisation["verified_fix"] is not None
    message = str(localised.value)
    assert "localisation (fp16): check fails" in message and "verified fix:" in message
    assert re.search(r"\(localisation: \d+ extra runs, [\d.]+ s\)", message)


def test_passing_check_localised_under_all_only(fp16_models):
    net, model = _net(1.0), fp16_models[1.0]
    assert assert_equivalent(net, model, inputs=feeds(SAMPLES), tolerance=TOL).localisation \
        is None
    every = assert_equivalent(net, model, inputs=feeds(SAMPLES), tolerance=TOL, localize="all")
    assert every.passed and every.localisation["before"]["passed"]
    assert "nothing suspect" in every.localisation["summary"]


@pytest.fixture(scope="module")
def neuralnetwork():
    """A NeuralNetwork conversion of the overflowing network (localisation records ML
    programs only)."""
    return ct.convert(_traced(400.0), convert_to="neuralnetwork",
                      inputs=[ct.TensorType(name="x", shape=(1, 16))])


def test_localisation_that_cannot_run_leaves_the_verdict_and_a_note(neuralnetwork):
    wrong = _net(3.0)  # not the network converted: the check fails
    with pytest.raises(EquivalenceError) as failed:
        assert_equivalent(wrong, neuralnetwork, inputs=feeds(SAMPLES), tolerance=TOL)
    result = failed.value.result
    assert not result.passed and result.localisation is None
    note = next(n for n in result.notes if n.startswith("localisation could not run"))
    assert "neuralNetwork model" in note and "ML programs only" in note
    passing = assert_equivalent(_net(400.0), neuralnetwork, inputs=feeds(SAMPLES),
                                tolerance={"min_snr_db": 20}, localize="all")
    assert passing.passed and any("localisation could not run" in n for n in passing.notes)


def test_reconversion_takes_the_model_interface(fp16_models):
    kwargs = reconversion(fp16_models[400.0].get_spec())
    (tensor,) = kwargs["inputs"]
    assert (tensor.name, tuple(tensor.shape.shape)) == ("x", (1, 16))
    assert kwargs["minimum_deployment_target"] == ct.target.iOS16


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, fp16_models):
    folder = tmp_path_factory.mktemp("cli")
    _traced(400.0).save(str(folder / "net.pt"))
    fp16_models[400.0].save(str(folder / "net.mlpackage"))
    np.savez(folder / "x.npz", **{f"x/{i}": s["x"] for i, s in enumerate(SAMPLES)})
    return folder


def test_cli_localize_prints_the_localisation(cli_files, capsys):
    code = main(["localize", str(cli_files / "net.pt"), str(cli_files / "net.mlpackage"),
                 "--inputs", str(cli_files / "x.npz"), "--min-snr-db", "30", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ranking"][0]["op"] == "op_37_cast_fp16"
    assert data["verified_fix"]["targets"] == ["op_37_cast_fp16", "op_39_cast_fp16"]


def test_cli_localize_exits_2_when_it_cannot_run(cli_files, capsys):
    code = main(["localize", str(cli_files / "net.pt"), str(cli_files / "missing.mlpackage"),
                 "--inputs", str(cli_files / "x.npz")])
    assert code == 2
    err = capsys.readouterr().err
    assert "coremlcheck localize: could not run" in err and "missing.mlpackage" in err


def test_cli_localize_lets_a_bug_of_ours_keep_its_traceback(cli_files, monkeypatch):
    """Wrong on purpose: a TypeError inside the package is an internal error, not exit 2."""
    import pytest_coremlcheck.localize as package
    from pytest_coremlcheck.errors import InternalError
    from pytest_coremlcheck.report.labels import check_label

    monkeypatch.setattr(package, "localize", lambda *a, **k: check_label(None))
    with pytest.raises(InternalError, match=r"coremlcheck localize.*This is a bug"):
        main(["localize", str(cli_files / "net.pt"), str(cli_files / "net.mlpackage"),
              "--inputs", str(cli_files / "x.npz")])


def test_checks_a_localisation_re_runs_are_not_localised(fp16_models, monkeypatch):
    import pytest_coremlcheck.localize as package
    from pytest_coremlcheck.localize import localize

    nested = []
    monkeypatch.setattr(package, "localize", lambda *a, **k: nested.append(a) or localize(*a, **k))
    loc = localize(_net(400.0), fp16_models[400.0], inputs=feeds(SAMPLES), tolerance=TOL,
                   fix=False)
    assert not loc.before.passed and loc.ranking[0].op_type == "pow"
    assert nested == []  # its own failing check was not localised again


def test_cli_compare_localises_unless_off(cli_files, capsys):
    args = ["compare", str(cli_files / "net.pt"), str(cli_files / "net.mlpackage"),
            "--inputs", str(cli_files / "x.npz"), "--min-snr-db", "30",
            "--backend", "reference"]
    assert main([*args, "--localize", "off"]) == 1
    assert "localisation (" not in capsys.readouterr().out
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "localisation (fp16): check fails" in out and "verified fix:" in out
