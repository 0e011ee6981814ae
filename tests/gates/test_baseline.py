"""Baseline files: limits, ids, comparison, update and the errors a bad file gives."""

import json
import os

import numpy as np
import pytest

from pytest_coremlcheck.gates.baseline import (
    DEFAULT_LIMITS,
    Baseline,
    BaselineError,
    check_id,
    entry_from_check,
    legacy_check_id,
    load_baseline,
    parse_limits,
    update_baseline_file,
    write_baseline,
)
from pytest_coremlcheck.gates.golden import write_golden
from pytest_coremlcheck.report.labels import check_label
from pytest_coremlcheck.store.files import write_atomic


def check(snr=50.0, cosine=0.9999, top1=1.0, max_abs=1e-3, **kw):
    entry = {"test": "tests/test_m.py::test_cls", "name": "test_cls", "backend": "reference",
             "platform": "reference executor, fp32", "model_hash": "m1", "inputs_hash": "i1",
             "variant": None, "shape": "", "passed": True,
             "outputs": {"y": {"snr_db": snr, "cosine": cosine, "top1": top1,
                               "max_abs": max_abs, "psnr_db": 60.0, "passed": True}}}
    entry.update(kw)
    return entry


def test_default_limits_and_signs():
    assert parse_limits(DEFAULT_LIMITS) == {"snr_db": -3.0, "cosine": -1e-4, "top1": -0.01}
    assert parse_limits("max_abs:+1e-3, rmse:0") == {"max_abs": 1e-3, "rmse": 0.0}
    assert parse_limits("") == {}
    with pytest.raises(ValueError, match="snr_db is higher-is-better"):
        parse_limits("snr_db:3")
    with pytest.raises(ValueError, match="max_abs is lower-is-better"):
        parse_limits("max_abs:-1")
    with pytest.raises(ValueError, match="'snrdb:-3'.*metric one of"):
        parse_limits("snrdb:-3")
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_limits("cosine:x")


def test_check_ids_are_the_report_labels():
    cases = {
        "tests/test_m.py::test_cls": check(),
        "tests/test_m.py::test_cls [backbone]": check(name="backbone"),
        "tests/test_m.py::test_cls [fp16]": check(name="test_cls [fp16]", variant="fp16"),
        "tests/test_m.py::test_cls [fp16, image=1x3x8x8]": check(
            name="test_cls [fp16, image=1x3x8x8]", variant="fp16", shape="image=1x3x8x8"),
        "tests/test_m.py::test_cls [test_cls2]": check(name="test_cls2"),
        "tests/test_m.py::test_cls [x=1x6]": check(shape="x=1x6"),
        "tests/test_m.py::test_cls [backbone] [int8]": check(name="backbone [int8]",
                                                            variant="int8"),
    }
    for label, entry in cases.items():
        assert check_id(entry) == check_label(entry) == label
    assert len({legacy_check_id(c) for c in cases.values()}) == len(cases)


def test_version_1_keys_are_found_and_replaced_on_update(tmp_path):
    named = check(name="backbone")
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"format": "coremlcheck-baseline", "version": 1, "checks": {
        "tests/test_m.py::test_cls::backbone": entry_from_check(named)}}))
    old = load_baseline(path)
    assert old.status(named).kind == "compared"
    assert [r.new for r in old.compare(check(name="backbone", snr=40.0),
                                        parse_limits("snr_db:-3"))] == [40.0]
    update = update_baseline_file(path, [check(name="backbone", snr=49.0)])
    assert list(update.written.checks) == ["tests/test_m.py::test_cls [backbone]"]
    assert update.updated == {"tests/test_m.py::test_cls [backbone]": ["y.snr_db 50.0 -> 49.0"]}
    assert json.loads(path.read_text())["version"] == 2


def test_regression_beyond_limit_fails_inside_it_passes():
    base = Baseline({}).updated([check()])
    limits = parse_limits(DEFAULT_LIMITS + ",max_abs:+1e-3")
    assert base.compare(check(snr=47.5), limits) == []
    found = base.compare(check(snr=46.0, max_abs=5e-3), limits)
    assert [(r.output, r.metric, r.baseline, r.new) for r in found] == [
        ("y", "snr_db", 50.0, 46.0), ("y", "max_abs", 1e-3, 5e-3)]
    assert found[0].message == ("baseline regression: tests/test_m.py::test_cls output 'y': "
                                "snr_db 50 -> 46 (change -4, limit -3)")
    assert base.compare(check(snr=80.0, max_abs=0.0), limits) == []  # improvements


def test_decibels_saturate_and_nan_regresses():
    base = Baseline({}).updated([check(snr="inf")])
    limits = parse_limits("snr_db:-3")
    assert base.compare(check(snr=140.0), limits) == []
    assert base.compare(check(snr="inf"), limits) == []
    assert [r.new for r in base.compare(check(snr=100.0), limits)] == [100.0]
    assert len(base.compare(check(snr="nan"), limits)) == 1


def test_changed_model_is_compared_other_backend_and_missing_are_not():
    base = Baseline({}).updated([check()])
    limits = parse_limits(DEFAULT_LIMITS)
    reconverted = check(snr=1.0, model_hash="m2")
    status = base.status(reconverted)
    assert status.kind == "compared"
    assert status.changed == ("model changed since the baseline (model_hash m1 -> m2)",)
    assert [r.metric for r in base.compare(reconverted, limits)] == ["snr_db"]
    assert base.compare(check(model_hash="m2"), limits) == []
    assert base.status(check(inputs_hash="i2")).changed[0].startswith("inputs changed")
    other = check(backend="coreml", platform="Core ML, ALL")
    assert base.status(other).kind == "other backend"
    assert base.compare(other, limits) == []
    assert base.status(check(name="other")).kind == "no baseline"


def test_update_keeps_entries_of_checks_not_run(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(path, Baseline({}).updated([check(), check(name="second")]))
    again = load_baseline(path).updated([check(snr=40.0)])
    write_baseline(path, again)
    data = json.loads(path.read_text())
    assert data["format"] == "coremlcheck-baseline" and data["version"] == 2
    assert set(data["checks"]) == {"tests/test_m.py::test_cls",
                                   "tests/test_m.py::test_cls [second]"}
    assert data["checks"]["tests/test_m.py::test_cls"]["outputs"]["y"]["snr_db"] == 40.0
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]  # no temporary left


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"format": "pytest-regressions", "version": 1, "checks": {}}',
     "format 'pytest-regressions', expected 'coremlcheck-baseline'"),
    ('{"format": "coremlcheck-baseline", "version": 3, "checks": {}}',
     "version 3 is newer than this pytest-coremlcheck reads"),
    ('{"format": "coremlcheck-baseline", "version": 1, "checks": []}', "'checks' must map"),
    ("[" * 100000 + "]" * 100000, "JSON nested too deeply to read"),
    ('{"format": "coremlcheck-baseline", "version": 2, "checks": {"t.py::a": '
     '{"outputs": {"y": {"snr_db": "abc"}}}}}',
     r"checks\['t.py::a'\].outputs\['y'\].snr_db: 'abc', expected a number"),
    ('{"format": "coremlcheck-baseline", "version": 2, "checks": {"t.py::a": '
     '{"outputs": {"y": {"snr_dB": 40}}}}}', r"\['y'\]: unknown metric 'snr_dB'"),
    ('{"format": "coremlcheck-baseline", "version": 2, "checks": {"t.py::a": '
     '{"outputs": {"y": {"cosine": true}}}}}', "cosine: True, expected a number"),
    ('{"format": "coremlcheck-baseline", "version": 2, "checks": {"t.py::a": {}}}',
     r"checks\['t.py::a'\]: expected an object with 'outputs'"),
])
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BaselineError, match=message) as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_missing_file_says_how_to_create_it(tmp_path):
    with pytest.raises(BaselineError, match="no such file; create it with --coreml-baseline"):
        load_baseline(tmp_path / "none.json")


def test_metrics_are_stored_to_six_significant_digits(tmp_path):
    path = tmp_path / "b.json"
    update_baseline_file(path, [check(snr=74.51234567891, cosine=0.99987654321,
                                      max_abs=float("inf"))])
    stored = json.loads(path.read_text())["checks"]["tests/test_m.py::test_cls"]["outputs"]["y"]
    assert stored["snr_db"] == 74.5123 and stored["cosine"] == 0.999877
    assert stored["max_abs"] == "inf"
    again = update_baseline_file(path, [check(snr=74.51231, cosine=0.99987659,
                                              max_abs=float("inf"))])
    assert again.unchanged == 1 and path.read_text().count("74.5123") == 1


def test_baseline_files_get_the_usual_mode_under_umask_022(tmp_path):
    previous = os.umask(0o022)
    try:
        write_baseline(tmp_path / "b.json", Baseline({}).updated([check()]))
        write_golden(tmp_path / "gold", "t.py::test_a", [{"y": np.ones(3)}], model_hash="m",
                     inputs_hash="i", backend="coreml", platform_name="Core ML, ALL")
        write_atomic(tmp_path / "r.md", "report")
    finally:
        os.umask(previous)
    files = [tmp_path / "b.json", tmp_path / "r.md", *(tmp_path / "gold").iterdir()]
    assert len(files) == 4
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {"0o644"}


def test_update_lists_new_updated_and_not_produced_entries(tmp_path):
    path = tmp_path / "b.json"
    update_baseline_file(path, [check(), check(name="gone"), check(name="same")])
    update = update_baseline_file(path, [check(snr=45.0, model_hash="m2"),
                                         check(name="same"), check(name="fresh")])
    assert update.new == ["tests/test_m.py::test_cls [fresh]"]
    assert update.updated == {"tests/test_m.py::test_cls": ["model changed",
                                                            "y.snr_db 50.0 -> 45.0"]}
    assert update.unchanged == 1
    assert update.not_produced == ["tests/test_m.py::test_cls [gone]"]
    lines = update.lines()
    assert lines[0].endswith("(4 check(s)): 1 new, 1 updated, 1 unchanged, "
                             "1 not produced by this run (kept), 0 pruned")
    assert "  updated: tests/test_m.py::test_cls: model changed; y.snr_db 50.0 -> 45.0" in lines
    pruned = update_baseline_file(path, [check()], prune=lambda key, entry: "gone" in key)
    assert pruned.pruned == ["tests/test_m.py::test_cls [gone]"]
    assert "tests/test_m.py::test_cls [gone]" not in json.loads(path.read_text())["checks"]
