"""device-risk mode and the inside-the-op fp16 watch, on real conversions.

For each reported device failure: ``typed`` passes (today's blind spot, but the watch names the
op), ``device-risk`` fails naming the op and the intermediate, and keeping that op in fp32 with
``FP16ComputePrecision(op_selector=...)`` makes ``device-risk`` pass.
"""

import math

import coremltools as ct
import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck import EquivalenceError, assert_equivalent
from pytest_coremlcheck.cli import main
from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.mil import device_risk


class Softplus(nn.Module):
    def forward(self, x):
        return nn.functional.softplus(x)


class LogSumExp(nn.Module):
    def forward(self, x):
        return torch.logsumexp(x, dim=-1)


class Norm(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.norm = nn.LayerNorm(768)

    def forward(self, x):
        return self.norm(x)


def _convert(module, shape, keep_fp32=None):
    traced = torch.jit.trace(module.eval(), torch.zeros(shape))
    precision = (ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type != keep_fp32)
                 if keep_fp32 else ct.precision.FLOAT16)
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=shape)],
                      compute_precision=precision, minimum_deployment_target=ct.target.iOS16,
                      skip_model_load=True)


def _feeds(low_high=None, normal=None, shape=(1, 64), n=2):
    rng = np.random.default_rng(0)
    if low_high:
        return [{"x": rng.uniform(*low_high, shape).astype(np.float32)} for _ in range(n)]
    return [{"x": rng.normal(*normal, shape).astype(np.float32)} for _ in range(n)]


CASES = {
    # op type: (source, input shape, inputs)
    "softplus": (Softplus(), (1, 64), _feeds(low_high=(12.0, 14.0))),
    "reduce_log_sum_exp": (LogSumExp(), (1, 4, 64), _feeds(normal=(20.0, 1.0), shape=(1, 4, 64))),
    "layer_norm": (Norm(), (1, 8, 768), _feeds(normal=(0.0, 3000.0), shape=(1, 8, 768))),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    op_type = request.param
    source, shape, feeds = CASES[op_type]
    return op_type, source, _convert(source, shape), _convert(source, shape, op_type), feeds


def _inside(result):
    return next(h for h in result.hazards if h["kind"] == "fp16_inside_overflow")


def test_typed_passes_but_names_the_inside_overflow(case):
    op_type, source, model, _, feeds = case
    result = assert_equivalent(source, model, feeds, backend="reference", fp16_mode="typed")
    assert op_type in [op.op_type for op in model._mil_program.functions["main"].operations]
    hazard = _inside(result)
    assert hazard["op_type"] == op_type and hazard["op"]
    assert f'op_selector=lambda op: op.op_type != "{op_type}"' in hazard["message"]


def test_device_risk_fails_naming_the_op(case):
    op_type, source, model, _, feeds = case
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(source, model, feeds, backend="reference", fp16_mode="device-risk")
    message = str(info.value)
    assert "fp16 device-risk (pessimistic)" in message
    assert "fp16 overflow inside an op (|intermediate| > 65504): op " in message
    assert f"({op_type})" in message
    assert f"device-risk: {op_type} — " in message  # the behaviour that fired, in the notes
    assert "not a claim about a specific chip" in message


def test_keeping_the_op_in_fp32_passes_device_risk(case):
    op_type, source, _, kept, feeds = case
    result = assert_equivalent(source, kept, feeds, backend="reference",
                               fp16_mode="device-risk")
    assert not [h for h in result.hazards if h["kind"] == "fp16_inside_overflow"]
    assert not [n for n in result.notes if n.startswith("device-risk: ")]


def test_small_activations_raise_nothing():
    """Wrong on purpose: softplus below ln 65504 is exact on the device too."""
    model = _convert(Softplus(), (1, 64))
    feeds = _feeds(low_high=(-8.0, 10.5))
    result = assert_equivalent(Softplus(), model, feeds, backend="reference",
                               fp16_mode="device-risk")
    assert not result.hazards or all(h["kind"] != "fp16_inside_overflow" for h in result.hazards)
    assert result.notes and all(not n.startswith("device-risk: ") for n in result.notes)


class CausalAttention(nn.Module):
    """Scores plus a -3.4e38 causal mask (torch.finfo(float32).min), as HF eager attention."""

    def __init__(self, padded_row=False):
        super().__init__()
        mask = torch.full((8, 8), torch.finfo(torch.float32).min).triu(1)
        if padded_row:
            mask[0, :] = torch.finfo(torch.float32).min  # a padding row: every key masked
        self.register_buffer("mask", mask)

    def forward(self, x):
        scores = x @ x.transpose(-1, -2) / 4.0
        return torch.softmax(scores + self.mask, dim=-1) @ x


def test_large_attention_mask_is_not_a_device_only_failure():
    """A -3.4e38 mask becomes -inf in fp16. Rows with a key left pass in every mode (softmax is
    reported to max-shift on the device, so -inf entries give 0); a fully masked row is NaN
    already in typed mode (coremltools PR #2669), so device-risk models nothing for it."""
    feeds = _feeds(normal=(0.0, 1.0), shape=(1, 8, 16))
    causal = _convert(CausalAttention(), (1, 8, 16))
    for mode in ("typed", "device-risk"):
        result = assert_equivalent(CausalAttention(), causal, feeds, backend="reference",
                                   fp16_mode=mode)
        assert any(h["kind"] == "nonfinite" and h["op_type"] == "add" for h in result.hazards)
    padded = _convert(CausalAttention(padded_row=True), (1, 8, 16))
    with pytest.raises(EquivalenceError, match="NaN"):
        assert_equivalent(CausalAttention(padded_row=True), padded, feeds, backend="reference",
                          fp16_mode="typed")


# Kernels against values computed by hand / in numpy


def test_softplus_kernel_collapses_past_ln_65504():
    x = torch.tensor([5.0, 11.0, 11.2, 12.0])
    out, fired = device_risk.softplus({"x": x}, None)
    expected = [math.log1p(math.exp(5.0)), math.log1p(math.exp(11.0)), 0.0, 0.0]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-3)  # exp(11) = 59874 fits fp16
    assert fired == 2


def test_log_sum_exp_kernel_has_no_max_shift():
    """32 equal values: Σ exp(x) = 32·e^x overflows fp16 past ln(65504/32) ≈ 7.62 (#2690)."""
    x = torch.tensor([[7.5] * 32, [7.7] * 32])
    out, fired = device_risk.reduce_log_sum_exp({"x": x, "axes": torch.tensor([1])}, None)
    assert out[0].item() == pytest.approx(7.5 + math.log(32), abs=0.02)
    assert out[1].item() == 0.0 and fired == 1


def test_fp16_running_sum_rounds_every_partial_sum():
    x = np.full((1, 4096), 16.5, np.float32)  # exact sum 67584 > 65504
    total = device_risk.fp16_sum(torch.from_numpy(x), [1], False)
    assert math.isinf(total.item())
    values = np.random.default_rng(1).uniform(0, 1, (3, 100)).astype(np.float16)
    expected = np.zeros(3, np.float16)
    for start in range(0, 100, device_risk.CHUNK):
        part = values[:, start:start + device_risk.CHUNK].astype(np.float64).sum(1)
        expected = (expected.astype(np.float64) + part.astype(np.float16)).astype(np.float16)
    got = device_risk.fp16_sum(torch.from_numpy(values.astype(np.float32)), [1], True)
    np.testing.assert_array_equal(got.numpy().reshape(3), expected.astype(np.float32))


def test_layer_norm_kernel_loses_the_variance_of_wide_activations():
    x = torch.tensor([[300.0, -300.0, 100.0, -100.0], [3.0, -3.0, 1.0, -1.0]])
    ins = {"x": x, "axes": torch.tensor([-1]), "epsilon": torch.tensor(1e-5),
           "beta": torch.tensor([0.5, 0.5, 0.5, 0.5])}
    out, fired = device_risk.layer_norm(ins, None)
    assert fired == 1  # 300² = 90000 > 65504: the first row's variance is inf
    np.testing.assert_array_equal(out[0].numpy(), [0.5] * 4)
    std = math.sqrt((9 + 9 + 1 + 1) / 4)
    np.testing.assert_allclose(out[1].numpy(), np.array([3, -3, 1, -1]) / std + 0.5, rtol=2e-3)


def test_cli_predict_in_device_risk_mode(tmp_path, capsys):
    path = tmp_path / "softplus.mlpackage"
    _convert(Softplus(), (1, 64)).save(str(path))
    np.savez(tmp_path / "x.npz", x=np.full((1, 64), 13.0, np.float32))
    out = tmp_path / "y.npz"
    assert main(["predict", str(path), "--inputs", str(tmp_path / "x.npz"), "--out", str(out),
                 "--backend", "reference", "--fp16-mode", "device-risk"]) == 0
    assert "fp16 device-risk" in capsys.readouterr().err
    assert not np.load(out)[next(iter(np.load(out).files))].any()  # the reported collapse to 0
    model = ReferenceModel(path, fp16_mode="typed")
    value = next(iter(model.predict({"x": np.full((1, 64), 13.0, np.float32)}).values()))
    np.testing.assert_allclose(value, 13.0, rtol=1e-3)
