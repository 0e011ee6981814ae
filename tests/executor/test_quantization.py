"""iOS17 activation quantisation: rounding half to even, saturation, per-channel params."""

from __future__ import annotations

import coremltools as ct
import numpy as np
from coremltools.converters.mil import Builder as mb

from .helpers import run, spec


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([[0.25, 0.75, -0.25, 100.0], [1.25, 1.75, -100.0, 0.0]], np.float32)
    scale = np.array([0.5, 0.5], np.float32)
    zero = np.array([0, 10], np.int8)

    @mb.program(input_specs=[spec(2, 4)], opset_version=ct.target.iOS17)
    def prog(x):
        q8 = mb.quantize(input=x, scale=scale, zero_point=zero, axis=0, output_dtype="int8")
        u8 = mb.quantize(input=x, scale=np.float32(0.5), zero_point=np.uint8(128),
                         output_dtype="uint8")
        return mb.cast(x=q8, dtype="int32"), mb.cast(x=u8, dtype="int32")

    q8, u8 = run(prog, {"x": x})
    # x / 0.5 = [0.5, 1.5, -0.5, 200] -> round half even [0, 2, -0, 200] (+0); row 1 (+10)
    np.testing.assert_array_equal(q8, [[0, 2, 0, 127], [12, 14, -128, 10]])
    np.testing.assert_array_equal(u8, [[128, 130, 128, 255], [130, 132, 0, 128]])


def test_quantize_dequantize_roundtrip_per_channel(rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    scale = np.array([0.02, 0.05, 0.1], np.float32)
    zero = np.array([3, -2, 0], np.int8)

    @mb.program(input_specs=[spec(2, 3, 4)], opset_version=ct.target.iOS17)
    def prog(x):
        q = mb.quantize(input=x, scale=scale, zero_point=zero, axis=1, output_dtype="int8")
        return mb.dequantize(input=q, scale=scale, zero_point=zero, axis=1)

    out = run(prog, {"x": x})[0]
    s, z = scale.reshape(1, 3, 1), zero.reshape(1, 3, 1).astype(np.float32)
    expect = s * (np.clip(np.round(x / s) + z, -128, 127) - z)
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-7)
