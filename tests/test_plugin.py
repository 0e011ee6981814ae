"""The pytest plugin, exercised through real inner pytest sessions (pytester)."""

import json

import pytest

MODEL = '''
import coremltools as ct
import numpy as np
import pytest
import torch
from pytest_coremlcheck import Tolerance, tensors


class Net(torch.nn.Module):
    def __init__(self, shift=0.0):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 4)
        self.shift = shift

    def forward(self, x):
        return torch.tanh(self.fc(x)) + self.shift


def convert(**kw):
    return dict(inputs=[ct.TensorType(name="x", shape=(1, 6))],
                outputs=[ct.TensorType(name="y")],
                compute_precision=ct.precision.FLOAT32, **kw)


@pytest.fixture(scope="session")
def good_package(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "Good.mlpackage"
    traced = torch.jit.trace(Net(), torch.ones(1, 6))
    ct.convert(traced, skip_model_load=True, **convert()).save(str(path))
    return path
'''


@pytest.fixture
def inner(pytester):
    pytester.makeconftest(MODEL)
    return pytester


def test_marker_is_registered_under_strict_markers(inner, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # a terminal wide enough for every column
    inner.makepyfile("""
        import pytest
        @pytest.mark.coreml_equivalence(min_cosine=0.99)
        def test_marked(coreml_check, good_package):
            from conftest import Net
            result = coreml_check(Net(), good_package)
            assert result.passed
            assert result.tolerance.min_cosine == 0.99
    """)
    result = inner.runpytest("--strict-markers", "-p", "no:cacheprovider",
                              "--coreml-backend=reference")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*Core ML equivalence*", "*test_marked*y*reference*ok*"])
    markers = "\n".join(inner.runpytest("--markers").outlines)
    assert "coreml_equivalence" in markers
    assert "min_ssim" in markers and "allow_source_nan" in markers  # every Tolerance field


def test_failing_check_shows_the_table_and_other_tests_go_on(inner, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # -vv: every column, each row on one line
    inner.makepyfile("""
        def test_wrong(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(shift=0.5), good_package)

        def test_right(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(), good_package)

        def test_missing_file(coreml_check, tmp_path):
            from conftest import Net
            coreml_check(Net(), tmp_path / "Gone.mlpackage")
    """)
    result = inner.runpytest("-p", "no:cacheprovider", "--coreml-backend=reference", "-rf",
                             "-vv")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*pytest_coremlcheck.EquivalenceError: y: SNR * dB < min_snr_db=* dB (and 1 more)",
        "*Core ML equivalence check 'test_wrong' FAILED*",
        "*backend:  reference (reference executor, fp32)*",
        "*y: SNR * < min_snr_db=* dB*",
    ])
    result.stdout.fnmatch_lines([
        "*could not run: converted model: *Gone.mlpackage: no such file*",
        '*at test_*.py:*: coreml_check(Net(), tmp_path / "Gone.mlpackage")'])
    result.stdout.fnmatch_lines(["*test_wrong*y*reference*FAIL*", "*test_missing_file*ERROR*"])
    # the short summary names the reason, not only the exception type
    result.stdout.fnmatch_lines(["FAILED *::test_wrong - pytest_coremlcheck.EquivalenceError: "
                                 "y: SNR * dB < min_snr_db=* dB (and 1 more)"])


def test_keyword_overrides_marker_overrides_command_line(inner):
    inner.makepyfile("""
        import pytest
        from pytest_coremlcheck import Tolerance

        @pytest.mark.coreml_equivalence(min_snr_db=10)
        def test_layers(coreml_check, good_package):
            from conftest import Net
            r = coreml_check(Net(), good_package, tolerance=Tolerance(atol=1e-3))
            assert r.tolerance.min_snr_db == 10      # marker over command line
            assert r.tolerance.min_cosine == 0.5     # command line kept where not overridden
            assert r.tolerance.atol == 1e-3          # keyword on top

        def test_cli_only(coreml_check, good_package):
            from conftest import Net
            r = coreml_check(Net(), good_package)
            assert r.tolerance.min_snr_db == 20 and r.tolerance.min_cosine == 0.5
    """)
    result = inner.runpytest("--coreml-tolerance=min_snr_db=20,min_cosine=0.5")
    result.assert_outcomes(passed=2)


def test_ini_defaults_and_bad_option_values(inner):
    inner.makeini("""
        [pytest]
        coreml_tolerance = min_cosine=0.25
        coreml_backend = reference
    """)
    inner.makepyfile("""
        def test_ini(coreml_check, good_package):
            from conftest import Net
            r = coreml_check(Net(), good_package)
            assert r.tolerance.min_cosine == 0.25 and r.backend == "reference"
    """)
    inner.runpytest().assert_outcomes(passed=1)
    bad = inner.runpytest("--coreml-tolerance=min_cosin=1")
    bad.stderr.fnmatch_lines(["*--coreml-tolerance: unknown tolerance field(s) min_cosin*"])
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_unknown_marker_field_is_a_usage_error(inner):
    inner.makepyfile("""
        import pytest
        @pytest.mark.coreml_equivalence(min_snr=3)
        def test_bad(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(), good_package)
    """)
    result = inner.runpytest()
    result.stdout.fnmatch_lines(["*unknown tolerance field(s) min_snr*"])
    assert result.ret != 0


def test_coreml_backend_off_macos_skips_and_fails_under_strict(inner):
    import platform

    if platform.system() == "Darwin":
        pytest.skip("Core ML is available here")
    inner.makepyfile("""
        def test_mac(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(), good_package)
    """)
    result = inner.runpytest("--coreml-backend=coreml", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*--coreml-backend=coreml needs macOS with Core ML*"])
    strict = inner.runpytest("--coreml-backend=coreml", "--coreml-strict")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*could not run: strict: --coreml-backend=coreml needs macOS*"])


def test_reports_json_and_markdown(inner):
    inner.makepyfile("""
        def test_two_checks(coreml_check, good_package):
            from conftest import Net, convert
            coreml_check(Net(), good_package, name="from file")
            coreml_check(Net(), convert=convert(), name="on the fly")

        def test_fails(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(shift=1.0), good_package)
    """)
    result = inner.runpytest("--coreml-report=out/r.json", "--coreml-report=out/r.md",
                             "--coreml-backend=reference")
    result.assert_outcomes(passed=1, failed=1)
    data = json.loads((inner.path / "out" / "r.json").read_text())
    assert data["summary"] == {"checks": 3, "passed": 2, "failed": 1}
    assert {"coremltools", "torch", "os", "python"} <= set(data["environment"])
    names = [c["name"] for c in data["checks"]]
    assert names == ["from file", "on the fly", "test_fails"]
    check = data["checks"][0]
    assert check["backend"] == "reference" and check["platform"] == "reference executor, fp32"
    assert check["test"].endswith("test_two_checks")
    y = check["outputs"]["y"]
    assert y["passed"] and y["snr_db"] == "inf" or y["snr_db"] > 100
    assert "snr_db" in data["metrics"]
    md = (inner.path / "out" / "r.md").read_text()
    assert "| test | output | backend |" in md and "**FAIL**" in md and "## Failures" in md


def test_report_with_unknown_suffix_is_a_usage_error_at_startup(inner):
    inner.makepyfile("""
        def test_ok(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(), good_package)
    """)
    result = inner.runpytest("--coreml-report=out/r.xlsx")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--coreml-report *r.xlsx: unknown format '.xlsx'*"])


def test_results_arrive_from_xdist_workers(inner):
    pytest.importorskip("xdist")
    inner.makepyfile("""
        import pytest
        @pytest.mark.parametrize("i", range(4))
        def test_many(coreml_check, good_package, i):
            from conftest import Net
            coreml_check(Net(), good_package)
    """)
    result = inner.runpytest_subprocess("-n", "2", "--coreml-report=r.json", "--junitxml=j.xml",
                                        "--coreml-baseline=b.json", "--coreml-baseline-update")
    result.assert_outcomes(passed=4)
    data = json.loads((inner.path / "r.json").read_text())
    assert data["summary"]["checks"] == 4  # check dicts travel on the test reports
    # the baseline is written once, by the controller, with every worker's checks
    assert sum("coreml baseline written to" in line for line in result.outlines) == 1
    baseline = json.loads((inner.path / "b.json").read_text())
    assert sorted(baseline["checks"]) == [f"test_results_arrive_from_xdist_workers.py::"
                                          f"test_many[{i}]" for i in range(4)]
    from xml.etree import ElementTree

    props = [(p.get("name"), p.get("value"))
             for p in ElementTree.parse(inner.path / "j.xml").iter("property")]
    names = {name for name, _ in props}
    assert {f"coreml.test_many[{i}].y.snr_db" for i in range(4)} <= names
    assert ("coreml.test_many[0].backend", "reference") in props
    assert "coreml_check" not in names


def test_models_are_linted_against_the_target(inner):
    inner.makepyfile("""
        import coremltools as ct

        def test_needs_ios17(coreml_check):
            from conftest import Net, convert
            result = coreml_check(Net(), convert=convert(
                minimum_deployment_target=ct.target.iOS17))
            assert [f["id"] for f in result.to_dict()["lint"]]
    """)
    ok = inner.runpytest("--coreml-backend=reference")
    ok.assert_outcomes(passed=1)
    late = inner.runpytest("--coreml-backend=reference", "--coreml-target=iOS16")
    late.assert_outcomes(failed=1)
    late.stdout.fnmatch_lines(["*lint CML-V001 error: *iOS17*iOS16*", "*FAIL (check)*"])


def test_one_entry_point_turns_every_part_off(pytester):
    """``-p no:coremlcheck`` turns off the checks, the linter and the declared checks alike."""
    pytester.makepyfile("def test_nothing():\n    pass\n")
    on = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--coreml-target=iOS17",
                                       "--coreml-lint-fail-on=error")
    on.assert_outcomes(passed=1)
    off = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:coremlcheck",
                                        "--coreml-target=iOS17")
    assert off.ret == pytest.ExitCode.USAGE_ERROR
    off.stderr.fnmatch_lines(["*unrecognized arguments: --coreml-target=iOS17*"])
    alone = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:pytest_coremlcheck.lint.pytest_plugin",
        "--coreml-backend=reference")
    alone.assert_outcomes(passed=1)
