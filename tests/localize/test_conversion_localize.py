"""Conversion localisation: a converter with a wrong formula in one module, found by its path."""

from __future__ import annotations

import contextlib

import coremltools as ct
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.frontend.torch.ops import _get_inputs
from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY
from torch import nn

from pytest_coremlcheck import Tolerance, tensors
from pytest_coremlcheck.localize.conversion import Budget, localize_conversion
from pytest_coremlcheck.localize.scopes import write_sidecar

TOLERANCE = Tolerance(min_snr_db=90)
X = torch.rand(1, 3, 8, 8)


def silu_for_hardswish(context, node):
    """The bug: ``hardswish(x) = x·relu6(x + 3)/6`` converted as ``x·sigmoid(x)`` (SiLU)."""
    x = _get_inputs(context, node)[0]
    context.add(mb.mul(x=x, y=mb.sigmoid(x=x), name=node.name))


@contextlib.contextmanager
def wrong_hardswish():
    mapping = _TORCH_OPS_REGISTRY.name_to_func_mapping
    original = mapping["hardswish"]
    mapping["hardswish"] = silu_for_hardswish
    try:
        yield
    finally:
        mapping["hardswish"] = original


class Block(nn.Module):
    def __init__(self, act: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = act

    def forward(self, x):
        return self.act(self.conv(x))


class Net(nn.Module):
    """stem → features (ReLU block, Hardswish block, GELU block) → mean → head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.features = nn.Sequential(Block(nn.ReLU()), Block(nn.Hardswish()), Block(nn.GELU()))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.features(torch.relu(self.stem(x))).mean((2, 3)))


class RootCall(nn.Module):
    """hardswish called in the root's own forward, between two modules."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.body = Block(nn.ReLU())

    def forward(self, x):
        return self.body(F.hardswish(self.stem(x)))


class TailCall(nn.Module):
    """hardswish called in the root's own forward, after the last module."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.body = Block(nn.ReLU())

    def forward(self, x):
        return F.hardswish(self.body(self.stem(x)))


def _convert(model: nn.Module):
    return ct.convert(torch.jit.trace(model, X), inputs=[ct.TensorType(name="x", shape=X.shape)],
                      convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                      skip_model_load=True)


def _seeded(cls) -> nn.Module:
    torch.manual_seed(0)
    return cls().eval()


@pytest.fixture(scope="module")
def models():
    """(net, net converted right, net converted with the wrong hardswish, RootCall, its
    wrong conversion, TailCall, its wrong conversion); the registry is restored before any
    test runs."""
    net, root, tail = _seeded(Net), _seeded(RootCall), _seeded(TailCall)
    right = _convert(net)
    with wrong_hardswish():
        wrong, root_wrong, tail_wrong = _convert(net), _convert(root), _convert(tail)
    return net, right, wrong, root, root_wrong, tail, tail_wrong


def test_the_wrong_converter_is_gone_after_the_fixture(models):
    assert _TORCH_OPS_REGISTRY.name_to_func_mapping["hardswish"] is not silu_for_hardswish


def test_wrong_formula_is_localised_to_its_module(models):
    net, _, wrong, *_ = models
    found = localize_conversion(net, wrong, tensors(2), TOLERANCE)
    assert found.verdict == "module" and found.origin == "torchscript"
    assert found.suspect.module == "features.1.act"
    assert found.suspect.module_type == "Hardswish"
    assert found.suspect.snr_db < 90
    assert found.suspect_ops and all(op.endswith("(silu)") for op in found.suspect_ops)
    by_path = {m.module: m for m in found.modules}
    for earlier in ("stem", "features.0.conv", "features.0.act", "features.0",
                    "features.1.conv"):
        assert by_path[earlier].agrees, by_path[earlier].describe()
    assert [v for v, _ in found.inputs] == [by_path["features.1.conv"].var]
    assert all(snr >= 90 for _, snr in found.inputs)
    assert found.summary().startswith("first divergent module: features.1.act (Hardswish), SNR ")
    assert found.extra_runs == 4 and found.seconds > 0
    assert found.to_dict()["suspect"]["module"] == "features.1.act"


def test_correct_conversion_has_no_divergent_module(models):
    net, right, *_ = models
    found = localize_conversion(net, right, tensors(2), TOLERANCE)
    assert found.suspect is None and found.verdict == "none"
    assert all(m.agrees for m in found.modules), [m.describe() for m in found.modules]
    assert found.summary().startswith("no module diverges: 13 of 13 module(s) compared")
    assert found.modules[-1].module == "" and found.modules[-1].label == "(root) (Net)"


def test_a_bug_in_the_roots_own_code_names_the_ops_between_modules(models):
    _, _, _, root, root_wrong, *_ = models
    found = localize_conversion(root, root_wrong, tensors(2), TOLERANCE)
    assert found.verdict == "before module"
    assert found.suspect.module == "body.conv"  # first module after the root's hardswish
    assert [op.split(" ")[1] for op in found.suspect_ops] == ["(silu)"]
    assert all(snr < 90 for _, snr in found.inputs)
    assert "inputs already disagree" in found.summary()


def test_a_saved_model_localises_through_its_sidecar(models, tmp_path):
    net, _, wrong, *_ = models
    package = tmp_path / "Net.mlpackage"
    wrong.save(str(package))
    without = localize_conversion(net, str(package), tensors(1), TOLERANCE)
    assert without.origin == "none" and without.notes
    assert all(m.agrees is None for m in without.modules[:-1])  # no op names a module
    assert without.suspect.module == ""  # only the whole model is compared
    write_sidecar(wrong, package)
    found = localize_conversion(net, str(package), tensors(1), TOLERANCE)
    assert found.suspect.module == "features.1.act" and found.origin == "torchscript"


def test_budget_comes_from_the_checks_tolerance():
    assert Budget.from_tolerance(Tolerance(min_snr_db=30, min_cosine=0.999)) == Budget(30, 0.999)
    assert Budget.from_tolerance(None) == Budget(60.0, None)
    assert not Budget(30, 0.999).holds(40, 0.99) and Budget(30, 0.999).holds(40, 0.9999)


@pytest.mark.slow
def test_torch_export_conversion_is_localised_from_module_or_exported_program():
    net = _seeded(Net)
    with wrong_hardswish():
        exported = torch.export.export(net, (X,)).run_decompositions({})
        converted = ct.convert(exported, convert_to="mlprogram", skip_model_load=True,
                               compute_precision=ct.precision.FLOAT32)
    for source in (net, exported):  # hooks on the module, or on the unflattened program
        found = localize_conversion(source, converted, tensors(1), TOLERANCE)
        assert found.origin == "torch.export"
        assert (found.suspect.module, found.suspect.module_type) == ("features.1.act",
                                                                     "Hardswish")
        assert found.verdict == "module"


def test_a_bug_after_the_last_module_names_the_roots_own_ops(models):
    *_, tail, tail_wrong = models
    found = localize_conversion(tail, tail_wrong, tensors(2), TOLERANCE)
    assert found.verdict == "module"
    assert (found.suspect.module, found.suspect.module_type) == ("", "TailCall")
    assert all(m.agrees for m in found.modules[:-1])  # stem, body and its children
    assert [op.split(" ")[1] for op in found.suspect_ops] == ["(silu)"]
