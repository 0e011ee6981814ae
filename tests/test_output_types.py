"""Output types are part of the verdict for outputs the source computes as integers or bools."""

import re

import coremltools as ct
import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck import assert_equivalent
from pytest_coremlcheck.errors import EquivalenceError

X = {"x": np.array([[0.1, 0.9, 0.3, 0.7, 0.2, 0.5]], np.float32)}


class Ints(nn.Module):
    """An integer output: round(x · scale) as int64 (argmax when scale is None)."""

    def __init__(self, scale=None):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        if self.scale is None:
            return x.argmax(-1)
        return torch.round(x * self.scale).long()


class Mask(nn.Module):
    def forward(self, x):
        return x > 0.5


def _convert(module, dtype=None, target=ct.target.iOS16):
    traced = torch.jit.trace(module.eval(), torch.rand(1, 6))
    output = ct.TensorType(name="y", dtype=dtype) if dtype else ct.TensorType(name="y")
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 6))], outputs=[output],
                      convert_to="mlprogram", minimum_deployment_target=target,
                      compute_precision=ct.precision.FLOAT32, skip_model_load=True)


@pytest.fixture(scope="module")
def models():
    return {
        "argmax": _convert(Ints()),
        "argmax_fp16": _convert(Ints(), np.float16),
        "argmax_fp32": _convert(Ints(), np.float32),
        "big_fp32": _convert(Ints(scale=1e8), np.float32),
        "huge": _convert(Ints(scale=1e10)),
        "mask": _convert(Mask()),
    }


def _declared(model):
    return model.get_spec().description.output[0].type.multiArrayType.dataType


def test_int64_argmax_as_int32_passes_with_a_note(models):
    assert _declared(models["argmax"]) == ct.proto.FeatureTypes_pb2.ArrayFeatureType.INT32
    result = assert_equivalent(Ints(), models["argmax"], X)
    out = result.output_results["y"]
    assert out.dtype == "int64→int32"
    assert "the source computes int64, the converted model declares int32: every value " \
           "fits int32 (source values in [1, 1])" in out.note


def test_int64_values_that_overflow_int32_fail(models):
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(Ints(scale=1e10), models["huge"], X)
    text = str(info.value)
    assert "y: the source computes int64, the converted model declares int32" in text
    assert re.search(r"source values in \[\d+, 8999\d+\] overflow int32 \(\[-2147483648, "
                     r"2147483647\]\)", text)
    assert "int64→int32" in text.split("Failures:")[0]  # the table's dtype column


def test_integer_output_declared_float16_fails_even_when_values_agree(models):
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(Ints(), models["argmax_fp16"], X, tolerance={"atol": 0.0})
    text = str(info.value)
    assert "the converted model declares float16" in text
    assert "float16 holds integers exactly only up to 2048" in text
    assert "max_abs" in text and "0  " in text.split("Failures:")[0]  # values agreed


def test_integer_output_as_float32_passes_up_to_2_pow_24_only(models):
    result = assert_equivalent(Ints(), models["argmax_fp32"], X)
    assert "every value is exact in float32" in result.output_results["y"].note
    with pytest.raises(EquivalenceError, match="float32 holds integers exactly only up to "
                                               "16777216; source values in"):
        assert_equivalent(Ints(scale=1e8), models["big_fp32"], X, tolerance={"min_cosine": 0})


def test_bool_mask_as_float32_passes_with_a_note(models):
    result = assert_equivalent(Mask(), models["mask"], X)
    out = result.output_results["y"]
    assert out.dtype == "bool→float32" and "every value is exact in float32" in out.note
