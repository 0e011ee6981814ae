"""One reader of Core ML files: the executor and the linter give the same reason for the same
broken package, each in its own error type."""

from __future__ import annotations

import json

import pytest

from pytest_coremlcheck.coreml.files import ModelFileError, package_spec_path, parse_spec
from pytest_coremlcheck.lint import InvalidModelError, lint
from pytest_coremlcheck.reference import ModelLoadError, ReferenceModel


def _package(tmp_path, relative: str, write: bool = True):
    package = tmp_path / "Broken.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Manifest.json").write_text(json.dumps({
        "rootModelIdentifier": "m",
        "itemInfoEntries": {"m": {"path": relative}}}))
    if write:
        (package / "Data" / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / "Data" / relative).write_bytes(b"")
    return package


@pytest.mark.parametrize("relative, reason", [
    ("com.apple.CoreML/model.mlmodel", "which is missing"),
    ("../../outside.mlmodel", "outside the package"),
])
def test_executor_and_linter_name_the_same_reason(tmp_path, relative, reason):
    package = _package(tmp_path, relative, write=False)
    with pytest.raises(ModelFileError, match=reason):
        package_spec_path(package)
    with pytest.raises(ModelLoadError, match=reason):
        ReferenceModel(package)
    with pytest.raises(InvalidModelError, match=reason):
        lint(package)


def test_bytes_that_are_no_model_do_not_parse():
    with pytest.raises(ModelFileError, match="x.mlmodel: the protobuf does not parse"):
        parse_spec(b"\xff\xff\xff\xff not a protobuf", "x.mlmodel")
