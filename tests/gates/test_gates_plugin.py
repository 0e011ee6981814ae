"""Baselines, golden outputs, strict mode and JUnit properties through real inner sessions."""

import json
import platform
import xml.etree.ElementTree as ET

import pytest

from ..test_plugin import MODEL

OTHER = '''

@pytest.fixture(scope="session")
def other_package(tmp_path_factory):
    """The same network converted to fp16: another model file."""
    path = tmp_path_factory.mktemp("o") / "Other.mlpackage"
    traced = torch.jit.trace(Net(), torch.ones(1, 6))
    ct.convert(traced, skip_model_load=True, inputs=[ct.TensorType(name="x", shape=(1, 6))],
               outputs=[ct.TensorType(name="y")]).save(str(path))
    return path
'''

TESTS = """
    import os

    def test_cls(coreml_check, good_package, other_package):
        from conftest import Net
        model = other_package if os.environ.get("MODEL") == "other" else good_package
        coreml_check(Net(shift=float(os.environ.get("SHIFT", "0"))), model)

    def test_other(coreml_check, good_package):
        from conftest import Net
        coreml_check(Net(), good_package)
"""


@pytest.fixture
def inner(pytester):
    pytester.makeconftest(MODEL + OTHER)
    return pytester


def baseline(inner):
    return json.loads((inner.path / "b.json").read_text())


def test_update_then_regression_fails_the_test(inner, monkeypatch):
    inner.makepyfile(test_b=TESTS)
    made = inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update")
    made.assert_outcomes(passed=2)
    made.stdout.fnmatch_lines(["*coreml baseline written to *b.json (2 check(s))*"])
    data = baseline(inner)
    assert data["format"] == "coremlcheck-baseline" and data["version"] == 1
    assert set(data["checks"]) == {"test_b.py::test_cls", "test_b.py::test_other"}
    entry = data["checks"]["test_b.py::test_cls"]
    assert entry["backend"] == "reference" and len(entry["model_hash"]) == 64
    assert set(entry["outputs"]["y"]) >= {"snr_db", "cosine", "top1", "psnr_db", "max_abs"}

    same = inner.runpytest("--coreml-baseline=b.json")
    same.assert_outcomes(passed=2)
    same.stdout.fnmatch_lines(["*coreml baseline *b.json: 2 compared*"])

    # A source that drifted: still inside the absolute tolerance, but far below its baseline.
    monkeypatch.setenv("SHIFT", "0.01")
    loose = ("--coreml-tolerance=min_snr_db=10,min_cosine=0.9",)
    assert inner.runpytest(*loose).ret == 0
    drift = inner.runpytest("--coreml-baseline=b.json", *loose)
    drift.assert_outcomes(passed=1, failed=1)
    drift.stdout.fnmatch_lines([
        "*baseline regression: test_b.py::test_cls output 'y': snr_db inf -> 28.* "
        "(change -91.*, limit -3)*",
        "*coreml baseline *b.json: 1 regressed, 1 compared*",
    ])
    relaxed = inner.runpytest("--coreml-baseline=b.json", *loose, "--coreml-regression=")
    relaxed.assert_outcomes(passed=2)

    # A partial update keeps the entries of checks that did not run.
    before = baseline(inner)["checks"]["test_b.py::test_other"]
    inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update", *loose,
                    "-k", "test_cls").assert_outcomes(passed=1)
    after = baseline(inner)["checks"]
    assert after["test_b.py::test_other"] == before
    assert after["test_b.py::test_cls"]["outputs"]["y"]["snr_db"] < 60
    assert sorted(p.name for p in inner.path.glob("*b.json*")) == ["b.json"]


def test_stale_baseline_skips_and_strict_fails(inner, monkeypatch):
    inner.makepyfile(test_b=TESTS)
    inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update").assert_outcomes(
        passed=2)
    monkeypatch.setenv("MODEL", "other")
    stale = inner.runpytest("--coreml-baseline=b.json", "-rs")
    stale.assert_outcomes(passed=1, skipped=1)
    stale.stdout.fnmatch_lines(["SKIPPED*test_cls: baseline stale: model changed*"])
    stale.stdout.fnmatch_lines([
        "*coreml baseline *b.json: 1 baseline stale, 1 compared*",
        "  test_b.py::test_cls: baseline stale: model changed*",
    ])
    strict = inner.runpytest("--coreml-baseline=b.json", "--coreml-strict")
    strict.assert_outcomes(passed=1, failed=1)
    strict.stdout.fnmatch_lines(["*strict: baseline stale: model changed*"])


def test_missing_entry_is_a_note_and_a_strict_failure(inner):
    inner.makepyfile(test_b=TESTS)
    inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update",
                    "-k", "test_other").assert_outcomes(passed=1)
    loose = inner.runpytest("--coreml-baseline=b.json", "--coreml-report=r.json")
    loose.assert_outcomes(passed=2)
    checks = {c["test"]: c for c in json.loads((inner.path / "r.json").read_text())["checks"]}
    assert checks["test_b.py::test_cls"]["gates"] == {"baseline": "no baseline"}
    assert "no baseline" in checks["test_b.py::test_cls"]["notes"]
    assert checks["test_b.py::test_other"]["gates"] == {"baseline": "compared"}
    strict = inner.runpytest("--coreml-baseline=b.json", "--coreml-strict")
    strict.assert_outcomes(passed=1, failed=1)
    strict.stdout.fnmatch_lines(["*strict: no baseline for test_b.py::test_cls in *b.json; "
                                 "add it with --coreml-baseline-update*"])
    updating = inner.runpytest("--coreml-baseline=b.json", "--coreml-strict",
                               "--coreml-baseline-update")
    updating.assert_outcomes(passed=2)


@pytest.mark.parametrize("content, message", [
    (None, "b.json: no such file; create it with --coreml-baseline-update"),
    ("[1, 2", "b.json: not valid JSON"),
    ('{"format": "coremlcheck-baseline", "version": 7, "checks": {}}',
     "b.json: version 7 is newer than this pytest-coremlcheck reads (1)"),
])
def test_bad_baseline_file_is_a_usage_error(inner, content, message):
    inner.makepyfile(test_b=TESTS)
    if content is not None:
        (inner.path / "b.json").write_text(content)
    for extra in ((), ("--coreml-baseline-update",)) if content else ((),):
        result = inner.runpytest("--coreml-baseline=b.json", *extra)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"*{message}*"])
    if content:
        assert (inner.path / "b.json").read_text() == content  # never overwritten


def test_ini_keys_and_a_missing_golden_directory(inner):
    inner.makepyfile(test_b=TESTS)
    inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update",
                    "-k", "test_other").assert_outcomes(passed=1)
    inner.makeini("""
        [pytest]
        coreml_baseline = b.json
        coreml_strict = true
    """)
    strict = inner.runpytest()
    strict.assert_outcomes(passed=1, failed=1)
    strict.stdout.fnmatch_lines(["*strict: no baseline for test_b.py::test_cls*"])
    gone = inner.runpytest("--coreml-golden=nowhere")
    assert gone.ret == pytest.ExitCode.USAGE_ERROR
    gone.stderr.fnmatch_lines(["*--coreml-golden *nowhere: no such directory*"])


def test_bad_regression_limits_are_a_usage_error(inner):
    inner.makepyfile(test_b=TESTS)
    result = inner.runpytest("--coreml-regression=snr_db:+3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*snr_db is higher-is-better*"])


MAKE_GOLDENS = """
    from pytest_coremlcheck.gates.golden import write_golden

    def test_make(coreml_check, good_package):
        from conftest import Net
        r = coreml_check(Net(), good_package)
        for check, factor in (("test_g.py::test_right", 1.0), ("test_g.py::test_wrong", 1.2),
                              ("test_g.py::test_stale", 1.0)):
            outputs = [{k: v * factor for k, v in o.items()} for o in r.converted_outputs]
            write_golden("gold", check, outputs, model_hash=r.model_hash,
                         inputs_hash=r.inputs_hash, backend=r.backend,
                         platform_name=r.platform)
"""

GOLDEN_TESTS = """
    def test_right(coreml_check, good_package):
        from conftest import Net
        coreml_check(Net(), good_package)

    def test_wrong(coreml_check, good_package):
        from conftest import Net
        coreml_check(Net(), good_package)

    def test_stale(coreml_check, other_package):
        from conftest import Net
        coreml_check(Net(), other_package)

    def test_missing(coreml_check, good_package):
        from conftest import Net
        coreml_check(Net(), good_package)
"""


def test_golden_outputs_are_a_third_party(inner):
    inner.makepyfile(test_make=MAKE_GOLDENS, test_g=GOLDEN_TESTS)
    inner.runpytest("test_make.py").assert_outcomes(passed=1)
    assert len(list((inner.path / "gold").glob("*.npz"))) == 3
    run = inner.runpytest("test_g.py", "--coreml-golden=gold", "--coreml-report=r.json",
                          "--coreml-report=r.md", "--coreml-report=r.html", "-rs")
    run.assert_outcomes(passed=2, failed=1, skipped=1)
    run.stdout.fnmatch_lines([
        "*Core ML equivalence check 'test_wrong' FAILED*",
        "*golden y: SNR * dB < min_snr_db=* dB*",
        "*Against the golden outputs:*",
    ])
    run.stdout.fnmatch_lines(["SKIPPED*test_stale: golden stale: model changed*"])
    run.stdout.fnmatch_lines(["*coreml golden outputs *gold: 1 compared, 1 failed, "
                              "1 golden stale, 1 no golden*"])
    checks = {c["name"]: c for c in json.loads((inner.path / "r.json").read_text())["checks"]}
    right = checks["test_right"]
    assert right["passed"] and right["gates"] == {"golden": "compared"}
    assert right["golden_outputs"]["y"]["max_abs"] == 0.0
    assert checks["test_wrong"]["golden_outputs"]["y"]["snr_db"] < 30
    assert checks["test_missing"]["golden_outputs"] == {}
    assert any("no golden outputs for this check" in n for n in checks["test_missing"]["notes"])
    markdown = (inner.path / "r.md").read_text()
    assert "golden: compared" in markdown
    assert "against the golden output y: SNR" in markdown
    html = (inner.path / "r.html").read_text()
    assert html.count("Against the golden outputs (real Core ML)") == 2  # test_right, test_wrong
    assert "<li>golden: compared</li>" in html

    tolerant = inner.runpytest("test_g.py", "--coreml-golden=gold",
                               "--coreml-golden-tolerance=min_cosine=0.99")
    tolerant.assert_outcomes(passed=3, skipped=1)
    strict = inner.runpytest("test_g.py", "--coreml-golden=gold", "--coreml-strict")
    strict.assert_outcomes(passed=2, failed=2)
    strict.stdout.fnmatch_lines(["*strict: golden stale: model changed*"])

    meta = next((inner.path / "gold").glob("test_g.py_test_right-*.json"))
    meta.write_text(json.dumps(dict(json.loads(meta.read_text()), version=2)))
    newer = inner.runpytest("test_g.py", "--coreml-golden=gold", "-k", "test_right")
    newer.assert_outcomes(failed=1)
    newer.stdout.fnmatch_lines([f"*could not run: golden *{meta.name}: version 2 is newer*"])


def test_golden_save_needs_core_ml(inner):
    if platform.system() == "Darwin":
        pytest.skip("Core ML is available here")
    inner.makepyfile(test_b=TESTS)
    run = inner.runpytest("--coreml-golden-save=gold", "-rs", "-k", "test_other")
    run.assert_outcomes(skipped=1)
    run.stdout.fnmatch_lines(["SKIPPED*--coreml-golden-save needs real Core ML*"
                              "reference executor, fp32: golden outputs not saved*"])
    assert not (inner.path / "gold").exists()
    strict = inner.runpytest("--coreml-golden-save=gold", "--coreml-strict", "-k", "test_other")
    strict.assert_outcomes(failed=1)


def test_junit_gets_key_metrics_as_properties(inner):
    inner.makepyfile(test_b=TESTS)
    inner.runpytest("--junitxml=j.xml", "-k", "test_other").assert_outcomes(passed=1)
    props = {p.get("name"): p.get("value")
             for p in ET.parse(inner.path / "j.xml").iter("property")}
    assert props["coreml.test_other.backend"] == "reference"
    assert props["coreml.test_other.passed"] == "True"
    assert {"coreml.test_other.y.snr_db", "coreml.test_other.y.cosine",
            "coreml.test_other.y.max_abs", "coreml.test_other.y.psnr_db"} <= set(props)
    assert float(props["coreml.test_other.y.cosine"]) > 0.9999
    assert not any(v.startswith("{") for v in props.values())  # no dict dumped as a string
