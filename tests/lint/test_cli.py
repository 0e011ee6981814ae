"""`coremlcheck lint`: output formats, exit codes, options, --explain."""

from __future__ import annotations

import json
import shutil

import pytest

from pytest_coremlcheck.cli import main


def run(capsys, *argv):
    code = main(["lint", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_is_one_line_per_finding(zoo, capsys):
    path = zoo("iOS17-w8a8")
    code, out, _ = run(capsys, path, "--target", "iOS16")
    assert code == 1
    lines = out.splitlines()
    assert f"{path}: CML-Q002 error: op 'quantize'" in out
    assert any(line.startswith(f"{path}: CML-V001 error: ") for line in lines)
    assert f"{path}: needs iOS17 (spec 8) because of op 'quantize'" in out
    assert "[CML-Q002]" in out and "fails at --fail-on error" in lines[-1]


def test_exit_codes_follow_fail_on(zoo, capsys):
    path = zoo("iOS16-cnn")
    assert run(capsys, path, "--target", "iOS16")[0] == 0
    assert run(capsys, path, "--target", "iOS16", "--fail-on", "info")[0] == 1
    assert run(capsys, path, "--target", "iOS15")[0] == 1
    assert run(capsys, path, "--target", "iOS15", "--ignore", "CML-V,CML-T")[0] == 0


@pytest.mark.parametrize("argv,message", [
    (["--target", "iOS99x"], "unknown deployment target"),
    (["--select", "CML-ZZ9"], "unknown rule"),
    (["--explain", "CML-Z"], "no rule matches"),
])
def test_usage_errors_exit_2(zoo, capsys, argv, message):
    code, _, err = run(capsys, zoo("iOS16-cnn"), *argv)
    assert code == 2 and message in err


def test_missing_path_and_no_path_exit_2(capsys, tmp_path):
    assert run(capsys, tmp_path / "nope.mlpackage")[0] == 2
    assert main(["lint"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["lint", "--format", "yaml", str(tmp_path)])
    assert exit_info.value.code == 2


def test_json_output(zoo, capsys):
    path = zoo("iOS18-stateful")
    code, out, _ = run(capsys, path, "--target", "iOS17", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["failed"] and data["target"] == "iOS17"
    state = [f for f in data["findings"] if f["id"] == "CML-T006"]
    assert state and all(f["severity"] == "error" and f["path"] == str(path) for f in state)
    assert "state/acc" in {f["location"] for f in state}
    assert data["models"][0]["required_target"] == "iOS18"
    assert data["models"][0]["required_by"] == "CML-T006"


def test_sarif_output(zoo, capsys, tmp_path, monkeypatch):
    package = tmp_path / "Detector.mlpackage"
    shutil.copytree(zoo("iOS17-w8a8"), package)
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(capsys, "Detector.mlpackage", "--target", "iOS16", "--format", "sarif",
                     "-o", "out.sarif")
    assert code == 1
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    assert sarif["version"] == "2.1.0" and "sarif" in sarif["$schema"]
    run_ = sarif["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {"CML-Q002", "CML-V001"}
    result = next(r for r in run_["results"] if r["ruleId"] == "CML-Q002")
    assert result["level"] == "error"
    assert rules[result["ruleIndex"]]["id"] == "CML-Q002"
    location = result["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == (
        "Detector.mlpackage/Data/com.apple.CoreML/model.mlmodel")
    assert location["physicalLocation"]["region"]["startLine"] == 1
    assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("main/")
    assert result["partialFingerprints"]["primaryLocationLineHash"]
    info = next(r for r in run_["results"] if r["ruleId"].startswith("CML-D"))
    assert info["level"] == "note"


def test_directories_are_searched(zoo, capsys, tmp_path):
    (tmp_path / "models" / "nested").mkdir(parents=True)
    shutil.copytree(zoo("iOS16-cnn"), tmp_path / "models" / "A.mlpackage")
    shutil.copy(zoo("iOS13-nn_cnn"), tmp_path / "models" / "nested" / "B.mlmodel")
    (tmp_path / "models" / "notes.txt").write_text("not a model")
    code, out, _ = run(capsys, tmp_path / "models", "--format", "json")
    paths = {m["path"] for m in json.loads(out)["models"]}
    assert code == 0
    assert {p.rsplit("/", 1)[-1] for p in paths} == {"A.mlpackage", "B.mlmodel"}


def test_unreadable_model_is_a_finding(capsys, tmp_path):
    path = tmp_path / "Broken.mlmodel"
    path.write_bytes(b"\x08\x07garbage")
    code, out, _ = run(capsys, path)
    assert code == 1
    assert f"{path}: CML-V000 error: not a valid Core ML model: " in out
    assert run(capsys, path, "--ignore", "CML-V000")[0] == 0


def test_no_weight_scan_and_show_fixes(zoo, capsys):
    code, out, _ = run(capsys, zoo("iOS16-cnn"), "--target", "iOS15", "--show-fixes",
                       "--no-weight-scan")
    assert code == 1 and "    fix: " in out


def test_explain(capsys):
    code, out, _ = run(capsys, "--explain", "cml-q004")
    assert code == 0
    assert out.startswith("# CML-Q004 — per-block-quantization")
    assert "**Why.**" in out and "**Source.**" in out
    code, out, _ = run(capsys, "--explain", "all")
    assert code == 0 and len(out.splitlines()) >= 90
    code, out, _ = run(capsys, "--explain", "CML-F")
    assert out.count("# CML-F00") == 5


def test_config_file_is_read(zoo, capsys, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.coremlcheck]\ntarget = "iOS15"\nignore = ["CML-D", "CML-I"]\n'
        '[tool.coremlcheck.per-path-ignores]\n"*.mlpackage" = ["CML-F001"]\n')
    shutil.copytree(zoo("iOS16-cnn"), tmp_path / "Model.mlpackage")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "Model.mlpackage", "--format", "json")
    data = json.loads(out)
    ids = {f["id"] for f in data["findings"]}
    assert code == 1 and data["target"] == "iOS15" and "CML-V001" in ids
    assert not {i for i in ids if i.startswith(("CML-D", "CML-I"))}
    code, out, _ = run(capsys, "Model.mlpackage", "--target", "iOS16")
    assert code == 0
    (tmp_path / "pyproject.toml").write_text('[tool.coremlcheck]\nfail-on = "sometimes"\n')
    assert run(capsys, "Model.mlpackage")[0] == 2
