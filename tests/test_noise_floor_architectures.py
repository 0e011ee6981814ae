"""The adaptive FP32 default on real architectures (``benchmarks/fp32_floor_architectures``):
correct FP32 conversions pass, the GELU and RMSNorm mis-conversions fail. Same formula for every
model; nothing is tuned per model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import fp32_floor_architectures as bench  # noqa: E402

from pytest_coremlcheck import tensors  # noqa: E402
from pytest_coremlcheck.check import run_check  # noqa: E402

pytestmark = pytest.mark.slow
IMAGE, TOKENS = (1, 3, 32, 32), (1, 32, 16)


def _vit():
    torch.manual_seed(0)
    return bench.ViTBlock().eval()


def _rms():
    torch.manual_seed(0)
    return bench.RMSNormBlock().eval()


def _cnn():
    torch.manual_seed(0)
    return bench.ResidualCNN().eval()


CASES = {
    "vit": (_vit, IMAGE, None, True),
    "resnet-style": (_cnn, IMAGE, None, True),
    "rmsnorm": (_rms, TOKENS, None, True),
    "vit, tanh GELU as exact": (_vit, IMAGE, ("gelu", bench.gelu_ignoring_approximate), False),
    "rmsnorm, eps 1e-4": (_rms, TOKENS, ("rms_norm", bench.rms_norm_with_eps(1e-4)), False),
    "rmsnorm, eps 1e-5": (_rms, TOKENS, ("rms_norm", bench.rms_norm_with_eps(1e-5)), False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_torch_architectures(case):
    build, shape, wrong, correct = CASES[case]
    model = build()
    result = run_check(model, bench.convert_torch(model, shape, wrong), inputs=tensors(n=2))[0]
    assert result.noise_floor["used"] == "measured"
    assert result.passed is correct, result.failure_table()
    if not correct:  # a bug the former fixed default (60 dB) let through
        assert result.outputs[next(iter(result.outputs))].snr_db > 60


@pytest.mark.parametrize("name", ["MobileNetV2", "EfficientNetB0"])
def test_keras_applications(name):
    pytest.importorskip("tf_keras")
    label, model, converted, _ = bench.keras_case(name)
    result = run_check(model, converted, inputs=tensors(n=2))[0]
    assert result.noise_floor["used"] == "measured", result.noise_floor
    assert result.passed, result.failure_table()
