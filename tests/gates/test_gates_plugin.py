"""Baselines, golden outputs, strict mode and JUnit properties through real inner sessions."""

import json
import os
import platform
import subprocess
import sys
import time
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
    made.stdout.fnmatch_lines(["*coreml baseline written to *b.json (2 check(s)): 2 new, "
                               "0 updated, 0 unchanged, 0 not produced by this run (kept), "
                               "0 pruned",
                               "  new: test_b.py::test_cls", "  new: test_b.py::test_other"])
    data = baseline(inner)
    assert data["format"] == "coremlcheck-baseline" and data["version"] == 2
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
    partial = inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update", *loose,
                              "-k", "test_cls")
    partial.assert_outcomes(passed=1)
    partial.stdout.fnmatch_lines([
        "*(2 check(s)): 0 new, 1 updated, 0 unchanged, 1 not produced by this run (kept)*",
        "  updated: test_b.py::test_cls: y.snr_db inf -> 28.*",
        "  not produced by this run, kept: test_b.py::test_other"])
    after = baseline(inner)["checks"]
    assert after["test_b.py::test_other"] == before
    assert after["test_b.py::test_cls"]["outputs"]["y"]["snr_db"] < 60
    assert sorted(p.name for p in inner.path.glob("*b.json*")) == [".b.json.lock", "b.json"]


def test_a_reconverted_model_is_compared_and_its_regression_fails(inner, monkeypatch):
    inner.makepyfile(test_b=TESTS)
    inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update").assert_outcomes(
        passed=2)
    monkeypatch.setenv("MODEL", "other")  # the same network re-converted to fp16
    regressed = inner.runpytest("--coreml-baseline=b.json", "--coreml-report=r.json")
    regressed.assert_outcomes(passed=1, failed=1)
    regressed.stdout.fnmatch_lines([
        "*baseline regression: test_b.py::test_cls output 'y': snr_db inf -> * (change -*, "
        "limit -3)*"])
    regressed.stdout.fnmatch_lines([
        "*coreml baseline *b.json: 1 regressed, 1 compared*",
        "  test_b.py::test_cls: regressed; model changed since the baseline (model_hash *)"])
    check = next(c for c in json.loads((inner.path / "r.json").read_text())["checks"]
                 if c["test"] == "test_b.py::test_cls")
    assert check["gates"]["baseline"].startswith("regressed; model changed since the baseline")
    assert any(n.startswith("baseline: model changed since the baseline") for n in check["notes"])
    allowed = inner.runpytest("--coreml-baseline=b.json", "--coreml-regression=snr_db:-200",
                              "--coreml-strict")
    allowed.assert_outcomes(passed=2)
    allowed.stdout.fnmatch_lines(["*coreml baseline *b.json: 2 compared*",
                                  "  test_b.py::test_cls: compared; model changed since *"])


def test_summary_labels_are_the_baseline_keys(inner, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # whole labels on one line (narrower ones wrap)
    inner.makepyfile(test_n="""
        def test_two(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(), good_package, name="backbone")
            coreml_check(Net(), good_package, name="head")
    """)
    run = inner.runpytest("--coreml-baseline=b.json", "--coreml-baseline-update",
                          "--coreml-report=r.json")
    run.assert_outcomes(passed=1)
    keys = set(baseline(inner)["checks"])
    report = json.loads((inner.path / "r.json").read_text())
    assert {c["label"] for c in report["checks"]} == keys
    assert keys == {"test_n.py::test_two [backbone]", "test_n.py::test_two [head]"}
    printed = [line.split()[0] + " " + line.split()[1] for line in run.stdout.lines
               if line.startswith("test_n.py::test_two [")]
    assert set(printed) == keys  # what the summary prints can be grepped in the baseline


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
                                 "record it with --coreml-baseline-update*"])
    data = baseline(inner)
    data["checks"]["test_b.py::test_other"]["backend"] = "coreml"
    (inner.path / "b.json").write_text(json.dumps(data))
    other = inner.runpytest("--coreml-baseline=b.json", "-k", "test_other")
    other.assert_outcomes(passed=1)
    other.stdout.fnmatch_lines(["  test_b.py::test_other: other backend: baseline from coreml*"])
    strict = inner.runpytest("--coreml-baseline=b.json", "--coreml-strict", "-k", "test_other")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*strict: other backend: baseline from coreml * for "
                                 "test_b.py::test_other in *b.json*"])
    updating = inner.runpytest("--coreml-baseline=b.json", "--coreml-strict",
                               "--coreml-baseline-update")
    updating.assert_outcomes(passed=2)


@pytest.mark.parametrize("content, message", [
    (None, "b.json: no such file; create it with --coreml-baseline-update"),
    ("[1, 2", "b.json: not valid JSON"),
    ('{"format": "coremlcheck-baseline", "version": 7, "checks": {}}',
     "b.json: version 7 is newer than this pytest-coremlcheck reads (2)"),
    ("[" * 100000 + "]" * 100000, "b.json: JSON nested too deeply to read"),
    ('{"format": "coremlcheck-baseline", "version": 2, "checks": {"test_b.py::test_cls": '
     '{"outputs": {"y": {"snr_db": "abc"}}}}}', "b.json: checks?'test_b.py::test_cls'?"
     ".outputs?'y'?.snr_db: 'abc', expected a number"),
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


def test_update_into_a_read_only_directory_is_one_line_and_fails(inner):
    """Root ignores directory modes: the inner run then drops CAP_DAC_OVERRIDE (setpriv)."""
    inner.makepyfile(test_b=TESTS)
    locked = inner.path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    args = ("-p", "no:cacheprovider", "--coreml-baseline=ro/b.json",
            "--coreml-baseline-update", "-k", "test_other")
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        run = inner.run("setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", "--",
                        sys.executable, "-m", "pytest", f"--basetemp={inner.path / 'bt'}",
                        *args, timeout=600)
    else:
        run = inner.runpytest(*args)
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.stdout.fnmatch_lines(["*1 passed*"])
    run.stdout.fnmatch_lines(["coreml baseline */ro/b.json: not written: Permission denied "
                               "(*/ro/.b.json.lock)"])
    assert "Traceback" not in run.stdout.str() + run.stderr.str()
    assert not list(locked.iterdir())


def entry(test):
    return {"test": test, "backend": "reference", "outputs": {"y": {"snr_db": 50.0}}}


def test_prune_removes_entries_of_tests_no_longer_collected(inner):
    inner.makepyfile(test_b=TESTS, test_q="""
        def test_q(coreml_check, good_package):
            from conftest import Net
            coreml_check(Net(), good_package)
    """)
    (inner.path / "b.json").write_text(json.dumps({
        "format": "coremlcheck-baseline", "version": 2,
        "checks": {"test_b.py::test_removed": entry("test_b.py::test_removed"),
                   "gone/test_old.py::test_x::backbone": entry(None)}}))
    assert inner.runpytest("--coreml-baseline-prune").ret == pytest.ExitCode.USAGE_ERROR
    update = ("--coreml-baseline=b.json", "--coreml-baseline-update", "--coreml-baseline-prune")
    inner.runpytest(*update, "test_q.py").assert_outcomes(passed=1)
    assert set(baseline(inner)["checks"]) == {  # other files are outside this run
        "test_b.py::test_removed", "gone/test_old.py::test_x::backbone", "test_q.py::test_q"}
    inner.makepyfile(test_broken="import nowhere_to_be_found")
    broken = inner.runpytest(*update)
    broken.stdout.fnmatch_lines(["*not pruned: collection was incomplete*"])
    assert len(baseline(inner)["checks"]) == 3
    (inner.path / "test_broken.py").unlink()
    run = inner.runpytest(*update, "-k", "test_cls or test_q")
    run.assert_outcomes(passed=2)
    run.stdout.fnmatch_lines([
        "*(2 check(s)): 1 new, 0 updated, 1 unchanged, 0 not produced by this run (kept), "
        "2 pruned",
        "  pruned (test not collected): gone/test_old.py::test_x::backbone",
        "  pruned (test not collected): test_b.py::test_removed"])
    inner.runpytest(*update, "-k", "test_other").assert_outcomes(passed=1)
    assert set(baseline(inner)["checks"]) == {  # -k deselected tests keep their entries
        "test_b.py::test_cls", "test_b.py::test_other", "test_q.py::test_q"}


CONCURRENT = """
    import pathlib

    def test_a(coreml_check, good_package):
        from conftest import Net
        coreml_check(Net(), good_package)
        pathlib.Path("done_test_a").touch()

    def test_b(coreml_check, good_package):
        from conftest import Net
        coreml_check(Net(), good_package)
        pathlib.Path("done_test_b").touch()
"""


@pytest.mark.slow
def test_concurrent_partial_updates_keep_both_entries(inner):
    """Two real processes update one baseline while the test holds its lock and writes a third
    entry: both must wait for the lock, then merge into what the file holds by then."""
    from filelock import FileLock

    inner.makepyfile(test_c=CONCURRENT)
    target = inner.path / "b.json"
    with FileLock(str(inner.path / ".b.json.lock")):
        procs = [subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-k", name,
             f"--basetemp={inner.path / name}", "--coreml-baseline=b.json",
             "--coreml-baseline-update"], cwd=inner.path, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for name in ("test_a", "test_b")]
        deadline = time.monotonic() + 600
        while not all((inner.path / f"done_{n}").exists() for n in ("test_a", "test_b")):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.5)
        time.sleep(3)
        assert all(p.poll() is None for p in procs) and not target.exists()  # waiting
        target.write_text(json.dumps({"format": "coremlcheck-baseline", "version": 2,
                                      "checks": {"test_c.py::test_z": entry(None)}}))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert set(json.loads(target.read_text())["checks"]) == {
        "test_c.py::test_a", "test_c.py::test_b", "test_c.py::test_z"}


@pytest.mark.slow
def test_prune_under_xdist_keeps_what_the_workers_collected(inner):
    pytest.importorskip("xdist")
    inner.makepyfile(test_x="""
        import pytest

        @pytest.mark.parametrize("i", range(2))
        def test_many(coreml_check, good_package, i):
            from conftest import Net
            coreml_check(Net(), good_package)
    """)
    (inner.path / "b.json").write_text(json.dumps({
        "format": "coremlcheck-baseline", "version": 2,
        "checks": {k: entry(k) for k in ("test_x.py::test_gone", "test_x.py::test_many[1]")}}))
    result = inner.runpytest_subprocess("-n", "2", "--deselect", "test_x.py::test_many[1]",
                                        "--coreml-baseline=b.json", "--coreml-baseline-update",
                                        "--coreml-baseline-prune")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 new, 0 updated, 0 unchanged, 1 not produced by this run "
                                 "(kept), 1 pruned",
                                 "  pruned (test not collected): test_x.py::test_gone"])
    assert set(baseline(inner)["checks"]) == {"test_x.py::test_many[0]",
                                              "test_x.py::test_many[1]"}
