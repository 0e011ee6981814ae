"""Converted op → source module: TorchScript scopes, torch.export stack traces, the sidecar."""

from __future__ import annotations

import coremltools as ct
import pytest
import torch
from torch import nn

from pytest_coremlcheck import assert_equivalent, tensors
from pytest_coremlcheck.localize.scopes import (
    ScopeMap,
    annotate_hazards,
    export_scopes,
    read_program,
    scopes_for,
    sidecar_path,
)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.Hardswish()

    def forward(self, x):
        return self.act(self.conv(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(), Block(), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return Net().eval()


X = torch.rand(1, 4, 8, 8)
FP32 = {"convert_to": "mlprogram", "compute_precision": ct.precision.FLOAT32,
        "skip_model_load": True}


@pytest.fixture(scope="module")
def traced():
    return ct.convert(torch.jit.trace(_net(), X), inputs=[ct.TensorType(name="x", shape=X.shape)],
                      **FP32)


def _modules_by_type(scope_map: ScopeMap) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for scope in scope_map.ops:
        found.setdefault(scope.op_type, []).append(scope.module)
    return found


def test_torchscript_ops_carry_module_paths_and_types(traced):
    scope_map = read_program(traced._mil_program)
    assert scope_map.origin == "torchscript"
    by_type = _modules_by_type(scope_map)
    assert by_type["conv"] == ["features.0.conv", "features.1.conv"]
    # hardswish is decomposed into three ops, all in the activation module
    assert by_type["sigmoid_hard"] == ["features.0.act", "features.1.act"]
    assert by_type["linear"] == ["head"]
    assert by_type["reduce_mean"] == [""]  # the root's own code
    act = next(s for s in scope_map.ops if s.op_type == "mul")
    assert act.module_types == ("Sequential", "Block", "Hardswish")
    assert act.module_type == "Hardswish" and act.source_op == "hardswish"
    assert scope_map.modules() == ["features.0.conv", "features.0.act", "features.1.conv",
                                   "features.1.act", "features.2", "", "head"]


@pytest.mark.slow
def test_torch_export_ops_get_module_paths_from_stack_traces():
    exported = torch.export.export(_net(), (X,)).run_decompositions({})
    model = ct.convert(exported, **FP32)
    raw = read_program(model._mil_program)
    assert raw.origin == "torch.export" and {s.module for s in raw.ops} == {""}
    by_type = _modules_by_type(export_scopes(raw, exported))
    assert by_type["conv"] == ["features.0.conv", "features.1.conv"]
    assert by_type["thresholded_relu"] == ["features.0.act", "features.1.act"]
    assert by_type["relu"] == ["features.2"] and by_type["linear"] == ["head"]


def test_saved_package_loses_scopes_without_the_sidecar(traced, tmp_path):
    path = tmp_path / "Net.mlpackage"
    traced.save(str(path))
    assert scopes_for(ct.models.MLModel(str(path), skip_model_load=True)).origin == "none"
    assert scopes_for(str(path)).ops == []


def test_conversion_cache_keeps_the_scope_map_beside_the_model(tmp_path):
    convert = {"inputs": [ct.TensorType(name="x", shape=tuple(X.shape))],
               "compute_precision": ct.precision.FLOAT32}
    for _ in range(2):  # a miss stores the entry, the hit loads it from disk
        result = assert_equivalent(_net(), None, tensors(1), convert=convert, cache_dir=tmp_path)
    assert "converted model taken from the conversion cache" in result.notes
    package = next(tmp_path.glob("*/model.mlpackage"))
    assert sidecar_path(package).exists()
    loaded = ct.models.MLModel(str(package), skip_model_load=True)
    assert getattr(loaded, "_mil_program", None) is None
    scope_map = scopes_for(loaded)
    assert scope_map.origin == "torchscript"
    assert _modules_by_type(scope_map)["conv"] == ["features.0.conv", "features.1.conv"]


def test_hazards_are_put_in_program_order_with_their_module(traced):
    scope_map = read_program(traced._mil_program)
    relu = next(s for s in scope_map.ops if s.op_type == "relu")
    conv = next(s for s in scope_map.ops if s.op_type == "conv")
    hazards = [{"kind": "nonfinite", "op": relu.op, "message": f"first NaN/Inf: op {relu.op!r} "
                "(relu) output"},
               {"kind": "fp16_overflow", "op": conv.op, "message": f"op {conv.op!r} (conv)"}]
    annotated = annotate_hazards(hazards, scope_map)
    assert [h["op"] for h in annotated] == [conv.op, relu.op]
    assert annotated[1]["module"] == "features.2" and annotated[1]["module_type"] == "ReLU"
    assert f"op {relu.op!r} in features.2 (ReLU) (relu)" in annotated[1]["message"]
    assert annotate_hazards([{"op": "unknown", "message": "x"}], scope_map)[0] == {
        "op": "unknown", "message": "x"}


def test_scope_map_round_trips_through_json(traced):
    scope_map = read_program(traced._mil_program)
    again = ScopeMap.from_dict(scope_map.to_dict())
    assert again.ops == scope_map.ops and again.origin == "torchscript"
    assert again.for_var(scope_map.ops[-1].outputs[0]) == scope_map.ops[-1]
