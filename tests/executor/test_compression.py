"""Compressed weights (``constexpr_*``), materialised at load, against hand-computed values
and coremltools' own numpy decompression as an oracle."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types
from coremltools.converters.mil.mil.ops.defs.iOS16 import constexpr_ops as ios16
from coremltools.converters.mil.mil.ops.defs.iOS18 import compression as ios18

from .helpers import TARGETS, run, spec

SUB_BYTE = {n: types.nptype_from_builtin(types.string_to_builtin(f"uint{n}"))
            for n in (1, 2, 3, 4, 6)}


def _weights(build, shape, target):
    """Run ``zeros(shape) + build()`` so the output is the materialised weight."""

    @mb.program(input_specs=[spec(*shape)], opset_version=TARGETS[target])
    def prog(x):
        weight = build()
        if isinstance(weight, (list, tuple)):
            weight = weight[-1]
        return mb.add(x=x, y=weight)

    return run(prog, {"x": np.zeros(shape, np.float32)}, target=target)[0]


# --------------------------------------------------------------------------- iOS16


def test_affine_dequantize_per_channel():
    q = np.array([[0, 255], [128, 10]], np.uint8)
    scale = np.array([0.5, 2.0], np.float32)
    zero = np.array([128, 10], np.uint8)
    out = _weights(lambda: mb.constexpr_affine_dequantize(
        quantized_data=q, zero_point=zero, scale=scale, axis=0), (2, 2), "iOS16")
    # row 0: 0.5 * ([0, 255] - 128); row 1: 2 * ([128, 10] - 10)
    np.testing.assert_array_equal(out, [[-64.0, 63.5], [236.0, 0.0]])


def test_lut_to_dense_ios16_packed_2bit():
    # 5 two-bit indices packed LSB first: byte0 = i3 i2 i1 i0 = 01 10 11 00, byte1 = .. .. .. 11
    indices = np.array([0b01101100, 0b00000011], np.uint8)
    lut = np.array([10.0, 20.0, 30.0, 40.0], np.float32)
    out = _weights(lambda: mb.constexpr_lut_to_dense(
        indices=indices, lut=lut, shape=np.array([5], np.uint32)), (5,), "iOS16")
    np.testing.assert_array_equal(out, [10.0, 40.0, 30.0, 20.0, 40.0])


def test_sparse_to_dense_ios16_packed_mask(rng):
    shape = (3, 7)
    dense = rng.normal(size=shape).astype(np.float32) * (rng.random(shape) > 0.5)
    flat = dense.reshape(-1)
    mask = np.packbits((flat != 0).astype(np.uint8), bitorder="little")
    nonzero = flat[flat != 0]
    out = _weights(lambda: mb.constexpr_sparse_to_dense(
        nonzero_data=nonzero, mask=mask, shape=np.array(shape, np.uint32)), shape, "iOS16")
    np.testing.assert_array_equal(out, dense)
    oracle = ios16.constexpr_sparse_to_dense.decompress(nonzero, mask, shape)
    np.testing.assert_array_equal(out, oracle)


# --------------------------------------------------------------------------- iOS18


@pytest.mark.parametrize("dtype", ["int4", "uint4", "int8", "uint8"])
def test_blockwise_shift_scale_matches_oracle(rng, dtype):
    np_dtype = types.nptype_from_builtin(types.string_to_builtin(dtype))
    low, high = {"int4": (-8, 8), "uint4": (0, 16), "int8": (-128, 128), "uint8": (0, 256)}[dtype]
    data = rng.integers(low, high, size=(4, 6)).astype(np_dtype)
    scale = rng.random((2, 3)).astype(np.float32) + 0.5  # blocks of 2 x 2
    offset = rng.integers(low, high, size=(2, 3)).astype(np_dtype)
    out = _weights(lambda: mb.constexpr_blockwise_shift_scale(
        data=data, scale=scale, offset=offset), (4, 6), "iOS18")
    oracle = ios18.constexpr_blockwise_shift_scale.decompress(data, scale, offset)
    np.testing.assert_allclose(out, oracle, rtol=1e-6)
    # element [3, 5] lies in block [1, 2]
    expect = scale[1, 2] * (float(data[3, 5]) - float(offset[1, 2]))
    assert out[3, 5] == pytest.approx(expect, rel=1e-6)


@pytest.mark.parametrize("nbits", [1, 2, 3, 4, 6])
def test_lut_to_dense_grouped_scalar(rng, nbits):
    indices = rng.integers(0, 2**nbits, size=(4, 6)).astype(SUB_BYTE[nbits])
    lut = rng.normal(size=(2, 1, 2**nbits, 1)).astype(np.float32)  # one table per 2 rows
    out = _weights(lambda: mb.constexpr_lut_to_dense(indices=indices, lut=lut), (4, 6), "iOS18")
    expect = np.where(np.arange(4)[:, None] < 2, lut[0, 0, indices.astype(int), 0],
                      lut[1, 0, indices.astype(int), 0])
    np.testing.assert_array_equal(out, expect)


def test_lut_to_dense_vector_doc_example():
    """Case 2.1 of the op's documentation: 1-bit vector palettisation along axis 1."""
    indices = np.array([[[0, 0], [1, 0]], [[1, 1], [0, 0]]]).astype(SUB_BYTE[1])
    a, b = [1.0, 2.0, 3.0], [10.0, 20.0, 30.0]
    lut = np.array([a, b], np.float32).reshape(1, 1, 1, 2, 3)
    out = _weights(lambda: mb.constexpr_lut_to_dense(indices=indices, lut=lut, vector_axis=1),
                   (2, 6, 2), "iOS18")
    expect = np.array([[[1, 1], [2, 2], [3, 3], [10, 1], [20, 2], [30, 3]],
                       [[10, 10], [20, 20], [30, 30], [1, 1], [2, 2], [3, 3]]], np.float32)
    np.testing.assert_array_equal(out, expect)


def test_sparse_ops_and_joint_compression(rng):
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]]).astype(
        SUB_BYTE[1])
    data = np.array([10, 11, 3, 4, 5, 6, 7, 8, 9], np.int8)
    scale = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
    offset = np.array([[1, 2, 3, 4]], np.int8)

    def build():
        m, values = mb.constexpr_sparse_blockwise_shift_scale(
            data_mask=mask, nonzero_data=data, scale=scale, offset=offset)
        return mb.constexpr_sparse_to_dense(nonzero_data=values, mask=m)

    out = _weights(build, (4, 4), "iOS18")
    expect = np.zeros((4, 4), np.float32)
    expect[mask != 0] = [0.9, 1.8, 0.2, 0.4, 0.6, 0.9, 1.2, 0.7, 1.4]  # the op docs' example
    np.testing.assert_allclose(out, expect, rtol=1e-6)


def test_lut_to_sparse_vector_matches_oracle(rng):
    mask = (rng.random((4, 6)) > 0.5).astype(SUB_BYTE[1])
    count = int(mask.sum())
    indices = rng.integers(0, 4, size=count).astype(SUB_BYTE[2])
    lut = rng.normal(size=(1, 1, 4, 2)).astype(np.float32)

    def build():
        m, values = mb.constexpr_lut_to_sparse(indices_mask=mask, indices_nonzero_data=indices,
                                               lut=lut, vector_axis=0)
        return mb.constexpr_sparse_to_dense(nonzero_data=values, mask=m)

    out = _weights(build, (8, 6), "iOS18")
    m, values = ios18.constexpr_lut_to_sparse.decompress(mask, indices, lut, 0)
    oracle = ios18.constexpr_sparse_to_dense.decompress(values, m)
    np.testing.assert_array_equal(out, oracle)


def test_constexpr_cast_fp16_to_fp32():
    source = np.array([1.5, -2.25, 65504.0], np.float16)
    out = _weights(lambda: mb.constexpr_cast(source_val=source, output_dtype="fp32"), (3,),
                   "iOS18")
    np.testing.assert_array_equal(out, source.astype(np.float32))


def test_palettized_conv_runs_once_at_load(rng):
    """A convolution with a 4-bit palettised weight equals the dense convolution."""
    import torch

    indices = rng.integers(0, 16, size=(4, 3, 3, 3)).astype(SUB_BYTE[4])
    lut = rng.normal(size=(1, 1, 1, 1, 16, 1)).astype(np.float32)
    dense = lut[0, 0, 0, 0, indices.astype(int), 0]

    @mb.program(input_specs=[spec(1, 3, 8, 8)], opset_version=ct.target.iOS18)
    def prog(x):
        w = mb.constexpr_lut_to_dense(indices=indices, lut=lut)
        return mb.conv(x=x, weight=w, pad_type="same")

    x = rng.normal(size=(1, 3, 8, 8)).astype(np.float32)
    out = run(prog, {"x": x}, target="iOS18")[0]
    expect = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(dense), padding=1)
    np.testing.assert_allclose(out, expect.numpy(), rtol=1e-5, atol=1e-5)
