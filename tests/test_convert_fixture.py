"""The ``coreml_convert`` fixture: ``ct.convert`` through the session's conversion cache."""

from __future__ import annotations

from .test_plugin import MODEL

TESTS = '''
import pytest
import torch
import coremltools as ct

from conftest import Net, convert


@pytest.fixture(scope="module")
def package(coreml_convert, tmp_path_factory):
    model = coreml_convert(Net(), **convert())
    assert isinstance(model, ct.models.MLModel)
    path = tmp_path_factory.mktemp("c") / "Net.mlpackage"
    model.save(str(path))
    return path


def test_given_model(coreml_check, package):
    coreml_check(Net(), package)


def test_on_the_fly_shares_the_entry(coreml_check):
    result = coreml_check(Net(), convert=convert())
    print("NOTES", result.notes)


def test_wrong_weights_still_fail(coreml_check, package):
    coreml_check(Net(shift=0.5), package)


def test_without_inputs(coreml_convert):
    coreml_convert(Net(), convert_to="mlprogram")
'''


def test_conversions_go_through_the_cache(pytester):
    pytester.makeconftest(MODEL)
    pytester.makepyfile(test_c=TESTS)
    args = ["--coreml-cache-dir=cache", "-s", "-p", "no:cacheprovider"]
    first = pytester.runpytest_subprocess(*args)
    first.assert_outcomes(passed=2, failed=2)
    first.stdout.fnmatch_lines(["*NOTES*converted model taken from the conversion cache*"])
    first.stdout.fnmatch_lines(["*coreml_convert could not convert: converting needs "
                                "inputs=[[]ct.TensorType*or example=*"])
    entries = [p for p in (pytester.path / "cache").iterdir() if p.is_dir()]
    assert len(entries) == 1  # the fixture's conversion, reused by the on-the-fly check
    second = pytester.runpytest_subprocess(*args)
    second.assert_outcomes(passed=2, failed=2)
    assert [p for p in (pytester.path / "cache").iterdir() if p.is_dir()] == entries
