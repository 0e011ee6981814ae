"""MIL ops against Core ML's own definitions (the op docstrings of coremltools'
``ops/defs``), with expectations written by hand or computed in plain numpy — never by the torch
function the executor calls. ``docs/op-semantics.md`` lists each op and the test that pins it."""

from __future__ import annotations

import math

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from .helpers import run, spec

IOS17 = ct.target.iOS17


def _erf(v: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(v.astype(np.float64))


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v.astype(np.float64)))


def test_rounding_division_and_clip():
    """``round``: half to even (the docstring: 0.5 rounds to 0); ``floor_div`` rounds toward
    −∞; ``mod`` takes the divisor's sign (x − floor(x / y)·y); ``clip`` = min(max(x, α), β)."""
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, 2.6], dtype=np.float32)
    xi = np.array([7, -7, 7, -7, 6], dtype=np.int32)
    yi = np.array([2, 2, -2, -2, 3], dtype=np.int32)

    @mb.program(input_specs=[spec(8), spec(5, dtype=types.int32), spec(5, dtype=types.int32)],
                opset_version=IOS17)
    def prog(h, x, y):
        xf, yf = mb.cast(x=x, dtype="fp32"), mb.cast(x=y, dtype="fp32")
        return (mb.round(x=h), mb.floor_div(x=x, y=y), mb.mod(x=x, y=y),
                mb.floor_div(x=xf, y=yf), mb.mod(x=xf, y=yf), mb.clip(x=h, alpha=-1.0, beta=1.0))

    rounded, fdiv, mod, fdiv_f, mod_f, clipped = run(prog, {"h": halves, "x": xi, "y": yi})
    np.testing.assert_array_equal(rounded, [-2, -2, 0, 0, 2, 2, 0, 3])
    np.testing.assert_array_equal(fdiv, [3, -4, -4, 3, 2])
    np.testing.assert_array_equal(mod, [1, 1, -1, -1, 0])
    np.testing.assert_array_equal(fdiv_f, [3, -4, -4, 3, 2])
    np.testing.assert_array_equal(mod_f, [1, 1, -1, -1, 0])
    np.testing.assert_array_equal(clipped, np.float32([-1, -1, -0.5, 0.5, 1, 1, 0.49, 1]))
    assert fdiv.dtype == np.int32 and mod.dtype == np.int32


def test_activations_follow_their_formulas():
    x = np.array([[[[-3.0, -1.0, -0.25, 0.0]], [[0.5, 1.0, 2.0, 25.0]]]], dtype=np.float32)

    @mb.program(input_specs=[spec(1, 2, 1, 4)], opset_version=IOS17)
    def prog(x):
        return (mb.gelu(x=x, mode="EXACT"), mb.gelu(x=x, mode="TANH_APPROXIMATION"),
                mb.gelu(x=x, mode="SIGMOID_APPROXIMATION"),
                mb.softplus_parametric(x=x, alpha=np.array([2.0, 0.5], np.float32),
                                       beta=np.array([3.0, 0.1], np.float32)),
                mb.softsign(x=x), mb.elu(x=x, alpha=0.5), mb.thresholded_relu(x=x, alpha=1.0),
                mb.clamped_relu(x=x, alpha=0.1, beta=1.5),
                mb.linear_activation(x=x, alpha=2.0, beta=-1.0),
                mb.scaled_tanh(x=x, alpha=2.0, beta=0.5), mb.sigmoid_hard(x=x, alpha=0.2, beta=0.5),
                mb.prelu(x=x, alpha=np.array([0.25, 3.0], np.float32)))

    outs = run(prog, {"x": x})
    v = x.astype(np.float64)
    alpha = np.array([2.0, 0.5]).reshape(1, 2, 1, 1)
    beta = np.array([3.0, 0.1]).reshape(1, 2, 1, 1)
    expect = [
        0.5 * v * (1 + _erf(v / math.sqrt(2))),
        0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))),
        v * _sigmoid(1.702 * v),
        alpha * np.log1p(np.exp(beta * v)),
        v / (1 + np.abs(v)),
        np.where(v > 0, v, 0.5 * (np.exp(v) - 1)),
        np.where(v >= 1.0, v, 0.0),  # x == alpha is kept
        np.minimum(1.5, np.where(v >= 0, v, 0.1 * v)),
        2 * v - 1,
        2 * np.tanh(0.5 * v),
        np.clip(0.2 * v + 0.5, 0, 1),
        np.where(v > 0, v, np.array([0.25, 3.0]).reshape(1, 2, 1, 1) * v),
    ]
    for index, (got, want) in enumerate(zip(outs, expect)):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=f"output {index}")
    assert outs[6][0, 1, 0, 1] == 1.0


def test_cumsum_argmax_and_topk_ties():
    """``cumsum`` exclusive + reverse; ``reduce_argmax`` ties (unspecified: the first index, as
    numpy); ``topk`` ties keep index order, ``ascending`` takes the smallest."""
    x = np.array([1.0, 3.0, 3.0, 2.0], dtype=np.float32)

    @mb.program(input_specs=[spec(4)], opset_version=IOS17)
    def prog(x):
        desc = mb.topk(x=x, k=2)
        asc = mb.topk(x=x, k=2, ascending=True)
        return (mb.cumsum(x=x, exclusive=True, reverse=True), mb.cumsum(x=x, exclusive=True),
                mb.reduce_argmax(x=x), mb.reduce_argmin(x=mb.mul(x=x, y=-1.0)),
                desc[0], desc[1], asc[0], asc[1])

    rev_excl, excl, argmax, argmin, dv, di, av, ai = run(prog, {"x": x})
    np.testing.assert_array_equal(rev_excl, [8, 5, 2, 0])
    np.testing.assert_array_equal(excl, [0, 1, 4, 7])
    assert argmax.item() == np.argmax(x) == 1 and argmin.item() == 1
    np.testing.assert_array_equal(dv, [3, 3])
    np.testing.assert_array_equal(di, [1, 2])
    np.testing.assert_array_equal(av, [1, 2])
    np.testing.assert_array_equal(ai, [0, 3])


def _lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """Core ML's LRN: the sum runs over channels c − h .. c + h, h = (size − 1) // 2."""
    half = (size - 1) // 2
    out = np.empty_like(x, dtype=np.float64)
    for c in range(x.shape[1]):
        lo, hi = max(0, c - half), min(x.shape[1], c + half + 1)
        sums = (x[:, lo:hi].astype(np.float64) ** 2).sum(axis=1)
        out[:, c] = x[:, c] / (k + alpha / size * sums) ** beta
    return out


def test_normalisations_place_epsilon_inside_the_root(rng):
    """layer/instance/batch norm: (x − mean) / sqrt(var + ε) (biased variance); l2_norm:
    x / sqrt(Σx² + ε) over the last three axes; ε = 0.5 makes its place visible."""
    x = rng.normal(size=(2, 3, 2, 2)).astype(np.float32)
    mean = np.array([0.1, -0.2, 0.3], np.float32)
    var = np.array([0.5, 1.0, 2.0], np.float32)

    @mb.program(input_specs=[spec(2, 3, 2, 2)], opset_version=IOS17)
    def prog(x):
        return (mb.layer_norm(x=x, axes=[1, 3], epsilon=0.5),
                mb.instance_norm(x=x, epsilon=0.5),
                mb.batch_norm(x=x, mean=mean, variance=var, epsilon=0.5),
                mb.l2_norm(x=x, epsilon=0.5))

    layer, inst, batch, l2 = run(prog, {"x": x})
    v = x.astype(np.float64)
    m = v.mean(axis=(1, 3), keepdims=True)
    np.testing.assert_allclose(layer, (v - m) / np.sqrt(v.var(axis=(1, 3), keepdims=True) + 0.5),
                               rtol=1e-5, atol=1e-6)
    m = v.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(inst, (v - m) / np.sqrt(v.var(axis=(2, 3), keepdims=True) + 0.5),
                               rtol=1e-5, atol=1e-6)
    shape = (1, 3, 1, 1)
    np.testing.assert_allclose(batch, (v - mean.reshape(shape)) /
                               np.sqrt(var.reshape(shape) + 0.5), rtol=1e-5, atol=1e-6)
    norms = np.sqrt((v**2).sum(axis=(1, 2, 3), keepdims=True) + 0.5)
    np.testing.assert_allclose(l2, v / norms, rtol=1e-5, atol=1e-6)


def test_local_response_norm_window_is_symmetric():
    """coremltools' own hand-computed expectation for this input (iOS14
    ``TestLocalResponseNorm``): size 2 normalises each channel by itself alone; PyTorch's
    window (c − 1, c) would add the previous channel."""
    x = np.array([[[1.0, -7.0], [5.0, -6.0], [-3.0, -5.0]]], dtype=np.float32)
    wide = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3) / 10

    @mb.program(input_specs=[spec(1, 3, 2), spec(2, 6, 3)], opset_version=IOS17)
    def prog(x, w):
        return (mb.local_response_norm(x=x, size=2), mb.local_response_norm(x=x, size=3),
                mb.local_response_norm(x=w, size=4, alpha=0.5, beta=0.6, k=2.0))

    two, three, four = run(prog, {"x": x, "w": wide})
    np.testing.assert_allclose(two, [[[0.99996257, -6.98716545], [4.99531746, -5.99191284],
                                      [-2.99898791, -4.99531746]]], rtol=1e-6)
    np.testing.assert_allclose(two, _lrn(x, 2, 1e-4, 0.75, 1.0), rtol=1e-6)
    np.testing.assert_allclose(three, _lrn(x, 3, 1e-4, 0.75, 1.0), rtol=1e-6)
    np.testing.assert_allclose(four, _lrn(wide, 4, 0.5, 0.6, 2.0), rtol=1e-5)


def test_depth_to_space_and_pixel_shuffle_orders():
    """``depth_to_space``: TensorFlow's DCR order, out[c, h·b+i, w·b+j] = x[(i·b+j)·C' + c];
    ``pixel_shuffle``: PyTorch's CRD order, x[c·b² + i·b + j]; they differ once C' > 1."""
    x = np.arange(8, dtype=np.float32).reshape(1, 8, 1, 1)

    @mb.program(input_specs=[spec(1, 8, 1, 1)], opset_version=IOS17)
    def prog(x):
        return mb.depth_to_space(x=x, block_size=2), mb.pixel_shuffle(x=x, upscale_factor=2)

    dcr, crd = run(prog, {"x": x})
    np.testing.assert_array_equal(dcr[0], [[[0, 2], [4, 6]], [[1, 3], [5, 7]]])
    np.testing.assert_array_equal(crd[0], [[[0, 1], [2, 3]], [[4, 5], [6, 7]]])


def _lerp_rows(img: np.ndarray, pos: np.ndarray) -> np.ndarray:
    lo = np.clip(np.floor(pos), 0, img.shape[0] - 1).astype(int)
    hi = np.minimum(lo + 1, img.shape[0] - 1)
    f = (pos - lo).reshape(-1, *[1] * (img.ndim - 1))
    return img[lo] * (1 - f) + img[hi] * f


def _bilinear(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return _lerp_rows(_lerp_rows(img, rows).T, cols).T


@pytest.mark.parametrize("align, half_pixel, grid", [
    (True, False, lambda i, n_in, n_out: i * (n_in - 1) / (n_out - 1)),
    (False, True, lambda i, n_in, n_out: np.clip((i + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)),
    (False, False, lambda i, n_in, n_out: np.clip(i * n_in / n_out, 0, n_in - 1)),
])
def test_upsample_bilinear_sampling_grids(align, half_pixel, grid):
    x = np.array([[[[0.0, 4.0, 1.0], [8.0, 2.0, 6.0]]]], dtype=np.float32)

    @mb.program(input_specs=[spec(1, 1, 2, 3)], opset_version=ct.target.iOS16)
    def prog(x):
        return mb.upsample_bilinear(x=x, scale_factor_height=2.0, scale_factor_width=2.0,
                                    align_corners=align, half_pixel_centers=half_pixel)

    (out,) = run(prog, {"x": x}, target="iOS16")
    rows, cols = grid(np.arange(4.0), 2, 4), grid(np.arange(6.0), 3, 6)
    np.testing.assert_allclose(out[0, 0], _bilinear(x[0, 0].astype(np.float64), rows, cols),
                               rtol=1e-6, atol=1e-6)


def test_gather_negative_indices_count_from_the_end_before_ios17():
    x = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]], dtype=np.float32)

    @mb.program(input_specs=[spec(2, 3)], opset_version=ct.target.iOS16)
    def prog(x):
        return (mb.gather(x=x, indices=np.array([-1, 0], np.int32), axis=1),
                mb.gather_along_axis(x=x, indices=np.array([[-1], [-3]], np.int32), axis=1))

    gathered, along = run(prog, {"x": x}, target="iOS16")
    np.testing.assert_array_equal(gathered, [[30, 10], [60, 40]])
    np.testing.assert_array_equal(along, [[30], [40]])


def test_conv_groups_dilation_and_asymmetric_padding(rng):
    x = rng.normal(size=(1, 4, 5, 6)).astype(np.float32)
    w = rng.normal(size=(2, 2, 2, 3)).astype(np.float32)  # 2 groups: 2 in-channels each

    @mb.program(input_specs=[spec(1, 4, 5, 6)], opset_version=IOS17)
    def prog(x):
        return mb.conv(x=x, weight=w, groups=2, dilations=[2, 1], strides=[1, 2],
                       pad_type="custom", pad=[1, 0, 0, 2])

    (out,) = run(prog, {"x": x})
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (1, 0), (0, 2)])
    oh, ow = (6 - (2 - 1) * 2 - 1) // 1 + 1, (8 - 3) // 2 + 1
    expect = np.zeros((1, 2, oh, ow))
    for o in range(2):
        ins = padded[0, 2 * o:2 * o + 2]
        for i in range(oh):
            for j in range(ow):
                window = ins[:, i:i + 3:2, 2 * j:2 * j + 3]
                expect[0, o, i, j] = (window * w[o]).sum()
    assert out.shape == expect.shape
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5)


def test_reductions_keep_dims_and_default_axes():
    """No ``axes``: every axis; ``keep_dims`` keeps length-1 axes; log_sum is log(Σx),
    log_sum_exp log(Σeˣ), l2_norm √Σx², sum_square Σx², prod over several axes."""
    x = np.arange(1.0, 13.0, dtype=np.float32).reshape(2, 3, 2) / 4

    @mb.program(input_specs=[spec(2, 3, 2)], opset_version=IOS17)
    def prog(x):
        return (mb.reduce_sum(x=x), mb.reduce_mean(x=x, axes=[0, 2], keep_dims=True),
                mb.reduce_log_sum(x=x, axes=[1]), mb.reduce_log_sum_exp(x=x, axes=[-1]),
                mb.reduce_l2_norm(x=x, axes=[0, 1]), mb.reduce_sum_square(x=x, axes=[2]),
                mb.reduce_prod(x=x, axes=[0, 2], keep_dims=True))

    total, mean, log_sum, lse, l2, sq, prod = run(prog, {"x": x})
    v = x.astype(np.float64)
    assert total.shape == (1,) and total.item() == pytest.approx(v.sum(), rel=1e-6)
    assert mean.shape == (1, 3, 1)
    np.testing.assert_allclose(mean, v.mean(axis=(0, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(log_sum, np.log(v.sum(axis=1)), rtol=1e-6)
    np.testing.assert_allclose(lse, np.log(np.exp(v).sum(axis=-1)), rtol=1e-6)
    np.testing.assert_allclose(l2, np.sqrt((v**2).sum(axis=(0, 1))), rtol=1e-6)
    np.testing.assert_allclose(sq, (v**2).sum(axis=2), rtol=1e-6)
    np.testing.assert_allclose(prod, v.prod(axis=(0, 2), keepdims=True), rtol=1e-5)
