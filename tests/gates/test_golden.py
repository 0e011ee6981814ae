"""Golden outputs: the writer the macOS path uses, fed with real outputs of a check."""

import json

import numpy as np
import pytest

from pytest_coremlcheck import Tolerance, assert_equivalent, tensors
from pytest_coremlcheck.gates.golden import (
    GoldenError,
    compare_golden,
    golden_stem,
    load_golden,
    save_from_result,
    write_golden,
)

from ..helpers import two_outputs

CHECK = "tests/test_m.py::test_two[seed-1]"


@pytest.fixture(scope="module")
def result(saved_models):
    return assert_equivalent(two_outputs(), saved_models["two_outputs"], tensors(n=3),
                             backend="reference")


def perturbed(outputs, factor):
    return [{k: v * factor for k, v in sample.items()} for sample in outputs]


def write(directory, result, outputs=None, **kw):
    fields = dict(model_hash=result.model_hash, inputs_hash=result.inputs_hash,
                  backend="reference", platform_name=result.platform)
    fields.update(kw)
    return write_golden(directory, CHECK, outputs or result.converted_outputs, **fields)


def test_round_trip_and_metadata(tmp_path, result):
    path = write(tmp_path, result)
    assert path.name == golden_stem(CHECK) + ".json"
    assert golden_stem(CHECK).startswith("tests_test_m.py_test_two_seed-1-")
    meta = json.loads(path.read_text())
    assert meta["format"] == "coremlcheck-golden" and meta["version"] == 1
    assert meta["check"] == CHECK and meta["samples"] == 3
    assert meta["outputs"] == ["first", "second"] and meta["coremltools"]
    golden = load_golden(tmp_path, CHECK)
    for stored, produced in zip(golden.outputs, result.converted_outputs):
        for name in ("first", "second"):
            np.testing.assert_array_equal(stored[name], produced[name])
    assert golden.stale_reason(result.model_hash, result.inputs_hash) is None
    found, failures = compare_golden(golden, result.converted_outputs, result.tolerance)
    assert failures == [] and found["first"].max_abs == 0.0
    assert load_golden(tmp_path, "tests/test_m.py::other") is None


def test_wrong_golden_fails_with_the_tolerance(tmp_path, result):
    write(tmp_path, result, perturbed(result.converted_outputs, 1.1))
    golden = load_golden(tmp_path, CHECK)
    found, failures = compare_golden(golden, result.converted_outputs, result.tolerance)
    assert found["first"].snr_db < 30
    limit = result.tolerance.for_output("first").min_snr_db  # the FP32 default's limit
    assert any(f.startswith("golden first: SNR") and f"min_snr_db={limit:g}" in f
               for f in failures)
    loose = Tolerance(min_cosine=0.99)
    assert compare_golden(golden, result.converted_outputs, loose)[1] == []


def test_stale_when_model_or_inputs_changed(tmp_path, result):
    write(tmp_path, result, model_hash="0" * 64)
    golden = load_golden(tmp_path, CHECK)
    assert golden.stale_reason(result.model_hash, result.inputs_hash).startswith(
        "golden stale: model changed")
    assert "inputs changed" in golden.stale_reason("0" * 64, "1" * 64)


def test_save_from_result_is_the_writer_with_the_run_metadata(tmp_path, result):
    path = save_from_result(tmp_path, CHECK, result)
    meta = json.loads(path.read_text())
    assert meta["model_hash"] == result.model_hash and meta["backend"] == "reference"
    assert meta["platform"] == "reference executor, fp32" and meta["compute_unit"] is None


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.write_text("{oops"), "not valid JSON"),
    (lambda p: p.write_text("[" * 100000 + "]" * 100000), "JSON nested too deeply to read"),
    (lambda p: p.write_text(json.dumps({k: v for k, v in json.loads(p.read_text()).items()
                                        if k != "arrays"})), "'arrays' is None; expected"),
    (lambda p: p.write_text(json.dumps(dict(json.loads(p.read_text()),
                                            arrays="../../etc/passwd"))),
     "'arrays' is '../../etc/passwd'; expected the file name of the .npz beside it"),
    (lambda p: p.write_text(json.dumps({"format": "other", "version": 1})),
     "format 'other', expected 'coremlcheck-golden'"),
    (lambda p: p.write_text(json.dumps(dict(json.loads(p.read_text()), version=9))),
     "version 9 is newer"),
    (lambda p: p.with_suffix(".npz").write_bytes(b"PK garbage"), "unreadable arrays"),
])
def test_bad_golden_files_name_the_file(tmp_path, result, edit, message):
    path = write(tmp_path, result)
    edit(path)
    with pytest.raises(GoldenError, match=message) as info:
        load_golden(tmp_path, CHECK)
    assert golden_stem(CHECK) in str(info.value)


def test_a_golden_never_reads_arrays_outside_its_directory(tmp_path, result):
    inside = tmp_path / "gold"
    path = write(inside, result)
    outside = tmp_path / "outside.npz"
    outside.write_bytes(path.with_suffix(".npz").read_bytes())  # readable, but not its own
    for name in ("../outside.npz", str(outside), "sub/../../outside.npz", ".."):
        path.write_text(json.dumps(dict(json.loads(path.read_text()), arrays=name)))
        with pytest.raises(GoldenError, match=f"golden {path}: 'arrays' is"):
            load_golden(inside, CHECK)


def test_goldens_saved_under_the_version_1_key_are_found(tmp_path, result):
    legacy = "tests/test_m.py::test_two[seed-1]::backbone"
    write_golden(tmp_path, legacy, result.converted_outputs, model_hash=result.model_hash,
                 inputs_hash=result.inputs_hash, backend="reference",
                 platform_name=result.platform)
    label = "tests/test_m.py::test_two[seed-1] [backbone]"
    assert load_golden(tmp_path, label) is None
    found = load_golden(tmp_path, label, legacy)
    assert found.check == label and found.meta["check"] == legacy
    assert len(found.outputs) == len(result.converted_outputs)
