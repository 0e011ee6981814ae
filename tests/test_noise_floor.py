"""The adaptive FP32 default: the source's float32 noise floor and the limit derived from it."""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import fp32_floor_architectures as bench  # noqa: E402

from pytest_coremlcheck import Tolerance, tensors  # noqa: E402
from pytest_coremlcheck.check import run_check  # noqa: E402
from pytest_coremlcheck.compare.noise_floor import NoiseFloor, floor_db, limit_for  # noqa: E402
from pytest_coremlcheck.compare.tolerance import default_for_precision  # noqa: E402
from pytest_coremlcheck.report import markdown  # noqa: E402
from pytest_coremlcheck.report.summary import summary_lines  # noqa: E402
from pytest_coremlcheck.store import CheckStore  # noqa: E402

SHAPE = (1, 8, 16)


class GeluMLP(nn.Module):
    """linear → tanh-approximated GELU → linear → LayerNorm, on (1, 8, 16)."""

    def __init__(self):
        super().__init__()
        self.up, self.down = nn.Linear(16, 64), nn.Linear(64, 16)
        self.act, self.norm = nn.GELU(approximate="tanh"), nn.LayerNorm(16)

    def forward(self, x):
        return self.norm(self.down(self.act(self.up(x))))


class RMSNormMLP(nn.Module):
    """linear → RMSNorm (eps 1e-6) → linear, on (1, 8, 16)."""

    def __init__(self):
        super().__init__()
        self.up, self.norm, self.down = nn.Linear(16, 32), nn.RMSNorm(32, eps=1e-6), \
            nn.Linear(32, 16)

    def forward(self, x):
        return self.down(self.norm(self.up(x)))


class CastsToFloat32(nn.Module):
    """The wrapped model with its output cast to float32: its float64 copy is not float64."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x).float()


#: Wrong on purpose, as in the benchmark: tanh GELU converted as exact GELU; RMSNorm with eps
#: 1e-4 instead of the model's.
exact_gelu = bench.gelu_ignoring_approximate
rms_norm_eps_1e4 = bench.rms_norm_with_eps(1e-4)


def convert(model, wrong=None, precision=ct.precision.FLOAT32):
    traced = torch.jit.trace(model, torch.rand(SHAPE))
    with bench.wrong_converter(*wrong) if wrong else contextlib.nullcontext():
        return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=SHAPE)],
                          outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                          compute_precision=precision, minimum_deployment_target=ct.target.iOS16)


@pytest.fixture(scope="module")
def gelu():
    torch.manual_seed(0)
    model = GeluMLP().eval()
    return model, convert(model), convert(model, ("gelu", exact_gelu))


@pytest.fixture(scope="module")
def rms():
    torch.manual_seed(0)
    model = RMSNormMLP().eval()
    return model, convert(model), convert(model, ("rms_norm", rms_norm_eps_1e4))


def check(source, converted, tolerance=None):
    return run_check(source, converted, inputs=tensors(n=3), tolerance=tolerance)[0]


# ------------------------------------------------------------------ the formula, by hand


def test_floor_is_the_snr_of_float32_against_float64():
    float64 = [np.array([1.0, 2.001]), np.array([-3.0])]
    float32 = [np.array([1.0, 2.0], np.float32), np.array([-3.0], np.float32)]
    signal, noise = 1.0 + 2.001 ** 2 + 9.0, 0.001 ** 2
    assert floor_db(float32, float64) == pytest.approx(10 * math.log10(signal / noise), abs=1e-6)
    assert floor_db([np.array([1.0, np.nan])], [np.array([1.0, 5.0])]) == math.inf
    assert math.isnan(floor_db([np.array([np.inf])], [np.array([np.inf])]))


def test_limit_is_floor_minus_30_capped_at_120():
    assert limit_for(137.64) == 107.6
    assert limit_for(180.0) == 120.0 and limit_for(math.inf) == 120.0
    assert limit_for(math.nan) == 85.0


def test_default_for_precision():
    assert default_for_precision("fp16") == Tolerance(min_snr_db=30.0, min_cosine=0.999)
    assert default_for_precision("fp16", NoiseFloor({"y": 140.0})).min_snr_db == 30.0
    fixed = Tolerance(min_snr_db=85.0, min_cosine=0.99999)
    assert default_for_precision("fp32") == fixed
    assert default_for_precision("fp32", NoiseFloor(reason="no float64 mode")) == fixed
    adaptive = default_for_precision("fp32", NoiseFloor({"a": 140.0, "b": 100.0}))
    assert adaptive.for_output("a").min_snr_db == 110.0
    assert adaptive.for_output("b").min_snr_db == 70.0
    assert adaptive.min_cosine == 0.99999


# ------------------------------------------------------------------ real conversions


def test_correct_fp32_conversion_passes_the_measured_limit(gelu):
    model, right, _ = gelu
    result = check(model, right)
    assert result.passed, result.failure_table()
    floor = result.noise_floor
    assert floor["used"] == "measured" and floor["floors_db"]["y"] > 120
    assert floor["limits_db"]["y"] == limit_for(floor["floors_db"]["y"])
    assert result.tolerance.for_output("y").min_snr_db == floor["limits_db"]["y"]
    assert result.timings["float64_source_s"] > 0
    assert any("float32 noise floor" in n and "y floor" in n for n in result.notes)
    out = result.to_dict()
    assert out["noise_floor"] == floor
    assert out["outputs"]["y"]["tolerance"]["min_snr_db"] == floor["limits_db"]["y"]


def test_tanh_gelu_converted_as_exact_fails(gelu):
    model, _, wrong = gelu
    result = check(model, wrong)
    snr = result.outputs["y"].snr_db
    assert FORMER_FIXED_DB < snr < result.noise_floor["limits_db"]["y"]
    assert not result.passed
    assert any(f.startswith("y: SNR") and "min_snr_db=" in f for f in result.failures)


FORMER_FIXED_DB = 60.0  # the fixed FP32 default before, which these bugs passed


def test_rmsnorm_with_a_wrong_epsilon_fails(rms):
    model, right, wrong = rms
    assert check(model, right).passed
    result = check(model, wrong)
    assert FORMER_FIXED_DB < result.outputs["y"].snr_db < result.noise_floor["limits_db"]["y"]
    assert not result.passed


def test_explicit_min_snr_db_wins(gelu):
    model, _, wrong = gelu
    result = check(model, wrong, Tolerance(min_snr_db=60))
    assert result.passed and result.noise_floor is None
    assert result.tolerance == Tolerance(min_snr_db=60)
    assert "float64_source_s" not in result.timings


def test_fp16_default_is_unchanged(gelu):
    model = gelu[0]
    result = check(model, convert(model, precision=ct.precision.FLOAT16))
    assert result.precision == "fp16" and result.noise_floor is None
    assert result.tolerance == Tolerance(min_snr_db=30.0, min_cosine=0.999)


def test_fixed_default_when_the_source_cannot_run_in_float64(gelu):
    model, right, wrong = gelu
    result = check(CastsToFloat32(model), right)
    assert result.passed
    assert result.noise_floor["used"] == "fallback"
    assert "stay torch.float32 in the float64 copy" in result.noise_floor["reason"]
    assert result.tolerance == Tolerance(min_snr_db=85.0, min_cosine=0.99999)
    assert any(n.startswith("FP32 default: fixed min_snr_db=85") for n in result.notes)
    assert not check(CastsToFloat32(model), wrong).passed  # the GELU bug is below 85 dB too


def test_the_wrong_converter_is_gone_after_conversion(gelu):
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    assert _TORCH_OPS_REGISTRY.name_to_func_mapping["gelu"] is not exact_gelu
    assert _TORCH_OPS_REGISTRY.name_to_func_mapping["rms_norm"] is not rms_norm_eps_1e4


# ------------------------------------------------------------------ reports


def test_reports_show_the_floor_and_the_limit(gelu):
    model, right, _ = gelu
    measured = check(model, right).to_dict()
    fixed = check(CastsToFloat32(model), right).to_dict()
    store = CheckStore()
    store.add("t::measured", measured)
    store.add("t::fixed", fixed)
    lines = summary_lines(store.checks)
    assert "fp32 floor→limit" in lines[0]
    floor, limit = measured["noise_floor"]["floors_db"]["y"], measured["noise_floor"][
        "limits_db"]["y"]
    assert f"{floor:.1f}→{limit:.1f}" in next(line for line in lines if "t::measured" in line)
    assert "fixed 85.0" in next(line for line in lines if "t::fixed" in line)
    text = markdown.render([dict(measured, test="t::measured")], {})
    assert "float32 noise floor" in text
    assert markdown.escape(f"min_snr_db={limit}") in text  # the output's tolerance column


def test_summary_has_no_floor_column_without_a_floor():
    store = CheckStore()
    store.add("t::x", {"name": "x", "backend": "reference", "outputs": {"y": {"passed": True}},
                       "passed": True})
    assert "floor" not in summary_lines(store.checks)[0]
