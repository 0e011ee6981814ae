"""The lint() API: inputs, results, selection, errors."""

from __future__ import annotations

import json

import pytest

from pytest_coremlcheck.lint import (
    Finding,
    InvalidModelError,
    LintConfig,
    LintUsageError,
    lint,
    severity_at_least,
)
from pytest_coremlcheck.lint.registry import is_selected

from ._broken import ARRAY_FLOAT16, nn_spec


def test_path_mlmodel_and_spec_give_the_same_findings(zoo):
    import coremltools as ct

    path = zoo("iOS16-cnn")
    from_path = lint(path, target="iOS15")
    from_model = lint(ct.models.MLModel(str(path), skip_model_load=True), target="iOS15")
    from_spec = lint(ct.utils.load_spec(str(path)), target="iOS15")
    key = [(f.id, f.location, f.message) for f in from_path.findings]
    assert [(f.id, f.location, f.message) for f in from_model.findings] == key
    assert [(f.id, f.location, f.message) for f in from_spec.findings] == key
    assert from_path.path == str(path) and from_spec.path == "<spec>"


def test_result_describes_the_requirement(zoo):
    result = lint(zoo("iOS17-w8a8"), target="macOS13")
    assert result.required_target == "macOS14"
    assert result.required_spec == 8
    assert result.required_by == "CML-Q002"
    assert "quantize" in result.required_reason
    assert result.declared_spec_version == 8
    assert result.target == "macOS13" and result.target_spec == 7
    data = json.loads(json.dumps(result.to_dict()))
    assert data["required_by"] == "CML-Q002"
    assert {"id", "severity", "message", "path", "location", "fix"} <= set(data["findings"][0])


def test_gate_findings_name_the_op_and_the_version(zoo):
    result = lint(zoo("iOS18-transformer"), target="iOS17")
    [sdpa] = [f for f in result.findings if f.id == "CML-O001"]
    assert "scaled_dot_product_attention" in sdpa.message
    assert "needs iOS18 (spec 9)" in sdpa.message and "iOS17 (spec 8)" in sdpa.message
    assert sdpa.location.startswith("main/")


def test_no_target_means_no_target_findings(zoo):
    result = lint(zoo("iOS18-stateful"))
    assert result.target is None
    assert result.required_target == "iOS18"
    assert not [f for f in result.findings if f.severity == "error"]


def test_specific_rule_replaces_generic_at_same_location(zoo):
    result = lint(zoo("iOS18-int4_block"), target="iOS17")
    ids = {f.id for f in result.findings}
    assert {"CML-Q003", "CML-Q004"} <= ids
    assert "CML-Q005" not in ids and "CML-O001" not in ids
    only_generic = lint(zoo("iOS18-int4_block"), target="iOS17", select=["CML-O001"])
    assert {f.id for f in only_generic.findings} == {"CML-O001"}


def test_select_and_ignore_prefixes(zoo):
    path = zoo("iOS16-cnn")
    assert {f.id[:5] for f in lint(path, target="iOS15", select="CML-T,CML-V").findings} <= {
        "CML-T", "CML-V"}
    ignored = lint(path, target="iOS15", ignore=["CML-T001", "d"])
    assert not [f for f in ignored.findings if f.id == "CML-T001" or f.id.startswith("CML-D")]
    # the most specific code wins
    assert [f.id for f in lint(path, select=["CML-D001"], ignore=["CML-D"]).findings] == [
        "CML-D001"]
    # the requirement does not depend on the selection
    assert lint(path, target="iOS15", select=["CML-D"]).required_by == "CML-T001"


def test_is_selected():
    assert is_selected("CML-T001", [], [])
    assert not is_selected("CML-T001", [], ["CML-T"])
    assert is_selected("CML-T001", ["CML-T001"], ["CML-T"])
    assert not is_selected("CML-T001", ["CML-T"], ["CML-T001"])
    assert not is_selected("CML-T001", ["CML-O"], [])
    assert not is_selected("CML-T001", [], ["CML"])


def test_usage_errors(zoo):
    path = zoo("iOS16-cnn")
    with pytest.raises(LintUsageError, match="unknown deployment target"):
        lint(path, target="Android14")
    with pytest.raises(LintUsageError, match="unknown rule"):
        lint(path, select=["CML-Z"])
    with pytest.raises(LintUsageError, match="unknown key"):
        lint(path, config={"targets": "iOS16"})


@pytest.mark.parametrize("content", [b"", b"not a model at all \x00\xff", b"\x08\x07"])
def test_invalid_files(tmp_path, content):
    path = tmp_path / "Broken.mlmodel"
    path.write_bytes(content)
    with pytest.raises(InvalidModelError, match=r"^not a valid Core ML model: .*Broken\.mlmodel"):
        lint(path)


def test_invalid_packages_and_paths(tmp_path):
    with pytest.raises(InvalidModelError, match="no such file"):
        lint(tmp_path / "Missing.mlpackage")
    package = tmp_path / "Empty.mlpackage"
    package.mkdir()
    with pytest.raises(InvalidModelError, match="Manifest.json"):
        lint(package)
    (package / "Manifest.json").write_text('{"rootModelIdentifier": "a", '
                                          '"itemInfoEntries": {"a": {"path": "../../x"}}}')
    with pytest.raises(InvalidModelError, match="outside the package"):
        lint(package)
    compiled = tmp_path / "Model.mlmodelc"
    compiled.mkdir()
    with pytest.raises(InvalidModelError, match="compiled"):
        lint(compiled)
    with pytest.raises(InvalidModelError, match="expected a path"):
        lint(42)


def test_declared_mismatch_names_the_feature():
    spec = nn_spec(rank5=False, version=4)
    spec.description.output[0].type.multiArrayType.dataType = ARRAY_FLOAT16
    [mismatch] = [f for f in lint(spec).findings if f.id == "CML-V004"]
    assert "declares spec 4" in mismatch.message and "[CML-T001]" in mismatch.message
    assert "output 'y'" in mismatch.message


def test_neural_network_declaring_more_than_it_needs():
    result = lint(nn_spec(version=5), target="iOS13")
    [surplus] = [f for f in result.findings if f.id == "CML-V005"]
    assert surplus.severity == "info" and "needs only spec 1" in surplus.message
    assert {f.id for f in result.findings if f.severity == "error"} == {"CML-V001"}


def test_per_path_ignores(zoo, tmp_path):
    path = zoo("iOS16-cnn")
    config = LintConfig(per_path_ignores=((path.name, ("CML-D",)),), root=tmp_path)
    assert not [f for f in lint(path, config=config).findings if f.id.startswith("CML-D")]
    assert [f for f in lint(path).findings if f.id.startswith("CML-D")]


def test_severity_at_least():
    assert severity_at_least("error", "warning")
    assert severity_at_least("warning", "warning")
    assert not severity_at_least("info", "warning")
    with pytest.raises(ValueError):
        severity_at_least("fatal", "error")


def test_finding_is_frozen_and_serializable():
    finding = Finding("CML-T001", "error", "m", "p", "input/x", "f")
    with pytest.raises(AttributeError):
        finding.id = "x"
    assert finding.to_dict() == {"id": "CML-T001", "severity": "error", "message": "m",
                                 "path": "p", "location": "input/x", "fix": "f"}
