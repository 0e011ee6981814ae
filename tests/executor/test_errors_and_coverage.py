"""Unsupported ops name op, opset and model; the coverage command reads the registry."""

from __future__ import annotations

import json

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb

from pytest_coremlcheck import cli
from pytest_coremlcheck.reference import ReferenceModel, UnsupportedOpError
from pytest_coremlcheck.reference.mil import ops as _ops  # noqa: F401  (registers every op)
from pytest_coremlcheck.reference.mil import registry

from .helpers import convert, spec


def test_unimplemented_op_names_op_opset_and_model(monkeypatch):
    @mb.program(input_specs=[spec(2, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.erf(x=mb.relu(x=x))

    model = convert(prog)
    monkeypatch.delitem(registry._IMPLS, "erf")
    with pytest.raises(UnsupportedOpError) as info:
        ReferenceModel(model)
    message = str(info.value)
    assert "'erf'" in message and "opset iOS15" in message
    assert str(model.package_path) in message


def test_version_specific_registration_falls_back_only_where_registered(monkeypatch):
    monkeypatch.setitem(registry._IMPLS, "probe_op", {})
    registry.register("probe_op", versions=("iOS17",))(lambda ins, node: None)
    assert registry.implemented("probe_op", "iOS17")
    assert not registry.implemented("probe_op", "iOS15")
    with pytest.raises(ValueError, match="unknown opset"):
        registry.register("probe_op", versions=("iOS99",))


def test_every_registry_op_definition_is_implemented_except_state_reads():
    table = registry.mil_op_versions()
    missing = [(op, v) for op, versions in table.items() for v in versions
               if not registry.implemented(op, v)]
    assert set(missing) <= {("read_state", "iOS18")}
    assert ("gru", "iOS18") in [(op, v) for op, vs in table.items() for v in vs]


def test_executor_coverage_command(capsys):
    assert cli.main(["executor-coverage"]) == 0
    text = capsys.readouterr().out
    assert "constexpr_lut_to_dense" in text and "iOS18" in text
    assert cli.main(["executor-coverage", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ops"]["conv"]["iOS17"] == {"defined_in": "iOS17", "new": True,
                                              "implemented": True, "random": False}
    assert report["ops"]["conv"]["iOS16"]["defined_in"] == "iOS15"
    assert report["ops"]["random_normal"]["iOS15"]["random"] is True
    assert report["definitions"] >= 220
    assert report["implemented"] == report["definitions"] - len(report["missing"])


def test_executor_coverage_missing_only_and_strict(capsys, monkeypatch):
    monkeypatch.delitem(registry._IMPLS, "einsum")
    assert cli.main(["executor-coverage", "--missing-only", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "einsum" in report["ops"] and "conv" not in report["ops"]
    assert "einsum (iOS15)" in report["missing"]
    assert cli.main(["executor-coverage", "--missing-only", "--strict"]) == 1
    assert "einsum" in capsys.readouterr().out


def test_prediction_runs_for_a_freshly_converted_program():
    @mb.program(input_specs=[spec(2)], opset_version=ct.target.iOS15)
    def prog(x):
        return mb.square(x=x)

    out = ReferenceModel(convert(prog, "iOS15")).predict({"x": np.array([2.0, -3.0],
                                                                         np.float32)})
    np.testing.assert_array_equal(next(iter(out.values())), [4.0, 9.0])
