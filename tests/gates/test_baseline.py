"""Baseline files: limits, ids, comparison, update and the errors a bad file gives."""

import json

import pytest

from pytest_coremlcheck.gates.baseline import (
    DEFAULT_LIMITS,
    Baseline,
    BaselineError,
    check_id,
    load_baseline,
    parse_limits,
    write_baseline,
)


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


def test_check_ids_are_readable_and_distinct():
    assert check_id(check()) == "tests/test_m.py::test_cls"
    assert check_id(check(name="backbone")) == "tests/test_m.py::test_cls::backbone"
    assert check_id(check(name="test_cls [fp16]", variant="fp16")) == \
        "tests/test_m.py::test_cls [fp16]"
    both = check(name="test_cls [fp16, image=1x3x8x8]", variant="fp16", shape="image=1x3x8x8")
    assert check_id(both) == "tests/test_m.py::test_cls [fp16, image=1x3x8x8]"
    assert check_id(check(name="test_cls2")) == "tests/test_m.py::test_cls::test_cls2"
    assert check_id(check(shape="x=1x6")) == "tests/test_m.py::test_cls [x=1x6]"


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


def test_stale_other_backend_and_missing_are_not_compared():
    base = Baseline({}).updated([check()])
    limits = parse_limits(DEFAULT_LIMITS)
    stale = check(snr=1.0, model_hash="m2")
    assert base.status(stale).kind == "stale"
    assert "baseline stale: model changed" in base.status(stale).reason
    assert base.compare(stale, limits) == []
    assert "inputs changed" in base.status(check(inputs_hash="i2")).reason
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
    assert data["format"] == "coremlcheck-baseline" and data["version"] == 1
    assert set(data["checks"]) == {"tests/test_m.py::test_cls",
                                   "tests/test_m.py::test_cls::second"}
    assert data["checks"]["tests/test_m.py::test_cls"]["outputs"]["y"]["snr_db"] == 40.0
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]  # no temporary left


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"format": "pytest-regressions", "version": 1, "checks": {}}',
     "format 'pytest-regressions', expected 'coremlcheck-baseline'"),
    ('{"format": "coremlcheck-baseline", "version": 2, "checks": {}}',
     "version 2 is newer than this pytest-coremlcheck reads"),
    ('{"format": "coremlcheck-baseline", "version": 1, "checks": []}', "'checks' must map"),
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
