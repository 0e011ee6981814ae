"""Non-finite values never pass: NaN/Inf on either side, nothing compared, the table."""

import math

import coremltools as ct
import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck import Tolerance, assert_equivalent, tensors
from pytest_coremlcheck.compare import metrics
from pytest_coremlcheck.compare.result import OutputResult
from pytest_coremlcheck.compare.verdict import violations
from pytest_coremlcheck.errors import CheckError, EquivalenceError
from pytest_coremlcheck.report.failure_table import format_table


def test_matching_infinities_agree_and_finite_part_is_measured():
    b = np.array([-np.inf, 1.0, 2.0, np.inf])
    a = np.array([-np.inf, 1.0, 2.5, np.inf])
    m = metrics.compute([(a, b)])
    assert (m.matched_inf, m.nonfinite, m.source_nan, m.elements, m.values) == (2, 0, 0, 2, 4)
    assert m.max_abs == 0.5
    assert m.snr_db == pytest.approx(10 * math.log10(5.0 / 0.25))
    assert violations("y", m, Tolerance(min_snr_db=10)) == []


@pytest.mark.parametrize("converted", [np.inf, np.nan, 3.0])
def test_source_negative_infinity_must_be_matched_in_sign(converted):
    b = np.array([-np.inf, 1.0])
    m = metrics.compute([(np.array([converted, 1.0]), b)])
    assert m.nonfinite == 1 and m.matched_inf == 0
    assert any("1 NaN/Inf value(s) in the converted output" in v
               for v in violations("y", m, Tolerance(min_snr_db=0)))


def test_source_nan_fails_unless_allowed_for_that_output():
    b = np.array([np.nan, 1.0, 2.0, 3.0])
    a = np.array([np.nan, 1.0, 2.0, 3.0])
    m = metrics.compute([(a, b)])
    assert m.source_nan == 1 and m.nonfinite == 0 and m.elements == 3
    found = violations("y", m, Tolerance(min_snr_db=40))
    assert found == ["y: source produced NaN in output y (1 of 4 values): this input cannot "
                     "certify the conversion (set allow_source_nan for this output to leave "
                     "those values out)"]
    tol = Tolerance(min_snr_db=40, per_output={"y": Tolerance(allow_source_nan=True)})
    assert violations("y", m, tol.for_output("y")) == []
    assert violations("y", m, tol.for_output("other")) == found


@pytest.mark.parametrize("a, b, why", [
    (np.full(4, np.nan), np.full(4, np.nan), "4 NaN in the source"),
    (np.full(3, -np.inf), np.full(3, -np.inf), "3 matching infinities"),
    (np.zeros((0, 5)), np.zeros((0, 5)), "the output is empty"),
])
def test_nothing_compared_never_passes(a, b, why):
    m = metrics.compute([(a, b)])
    assert m.elements == 0 and math.isnan(m.snr_db) and math.isnan(m.cosine)
    found = violations("y", m, Tolerance(allow_source_nan=True, min_cosine=-1))
    assert any("y: nothing was compared" in f and why in f for f in found)
    row = OutputResult("y", m, Tolerance(), found)
    table = format_table([row])
    assert "FAIL" in table and " ok" not in table and "inf" not in table.split("\n")[2][:40]


def test_table_shows_non_finite_counts_only_when_present():
    clean = metrics.compute([(np.ones(3), np.ones(3))])
    assert "non-finite" not in format_table([OutputResult("y", clean, Tolerance(), [])])
    m = metrics.compute([(np.array([np.nan, 1.0, -np.inf]), np.array([np.nan, 1.0, -np.inf]))])
    table = format_table([OutputResult("y", m, Tolerance(), violations("y", m, Tolerance()))])
    header, _, row = table.splitlines()[:3]
    assert "non-finite" in header
    assert "1 src NaN, 1 ±inf both" in row and row.rstrip().endswith("FAIL")


class Propagate(nn.Module):
    """y = 2x + 1: NaN and Inf inputs reach the output unchanged in kind."""

    def __init__(self, weight=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.full((4,), weight))

    def forward(self, x):
        return x * self.weight * 2.0 + 1.0


def _convert(module):
    traced = torch.jit.trace(module.eval(), torch.rand(1, 4))
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 4))],
                      outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                      compute_precision=ct.precision.FLOAT32, skip_model_load=True)


@pytest.fixture(scope="module")
def propagate():
    return _convert(Propagate())


class InfWeights(nn.Module):
    """x·w − w with w = +inf: NaN wherever x > 0, on both sides."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.full((4,), float("inf")))

    def forward(self, x):
        return x * self.weight - self.weight


@pytest.fixture(scope="module")
def nan_weights():
    return _convert(InfWeights())


def test_all_nan_input_does_not_pass(propagate, tmp_path):
    feeds = tmp_path / "nan.npz"
    np.savez(feeds, x=np.full((1, 4), np.nan, np.float32))
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(Propagate(), propagate, str(feeds))
    text = str(info.value)
    assert "source produced NaN in output y (4 of 4 values)" in text
    assert "nothing was compared" in text


def test_nan_weights_on_both_sides_do_not_pass(nan_weights):
    with pytest.raises(EquivalenceError, match="source produced NaN in output y"):
        assert_equivalent(InfWeights(), nan_weights, {"x": np.ones((1, 4), np.float32)})


def test_masked_minus_inf_on_both_sides_agrees(propagate):
    x = np.array([[-np.inf, 0.5, 1.0, 2.0]], np.float32)
    result = assert_equivalent(Propagate(), propagate, {"x": x})
    m = result.outputs["y"]
    assert (m.matched_inf, m.elements, m.max_abs) == (1, 3, 0.0)


def test_allow_source_nan_opts_in_per_output(propagate):
    x = np.array([[np.nan, 0.5, 1.0, 2.0]], np.float32)
    tol = Tolerance(per_output={"y": Tolerance(allow_source_nan=True)})
    result = assert_equivalent(Propagate(), propagate, {"x": x}, tolerance=tol)
    assert result.outputs["y"].source_nan == 1 and result.outputs["y"].elements == 3
    with pytest.raises(CheckError, match="per_output names 'logits'.*its outputs are y"):
        assert_equivalent(Propagate(), propagate, {"x": x},
                          tolerance=Tolerance(per_output={"logits": Tolerance(min_top1=1)}))


@pytest.mark.parametrize("inputs, why", [
    ([], "non-empty list"),
    ("empty.npz", "holds no arrays"),
    ("zero", "need at least one sample"),
])
def test_empty_inputs_never_pass(propagate, tmp_path, inputs, why):
    """No sample compared is no verdict: an empty feed list, an .npz without arrays and
    tensors(n=0) are errors, never a pass."""
    if inputs == "empty.npz":
        np.savez(tmp_path / "empty.npz")
        inputs = str(tmp_path / "empty.npz")
    with pytest.raises((CheckError, ValueError), match=why):
        assert_equivalent(Propagate(), propagate,
                          tensors(n=0) if inputs == "zero" else inputs)
