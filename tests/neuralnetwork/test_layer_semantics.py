"""NeuralNetwork layers against Core ML's own definitions (the comments of NeuralNetwork.proto),
with every expected value computed in plain numpy or by hand — never by the torch call the
executor makes. Each test is a row of the audit table in docs/op-semantics.md."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from pytest_coremlcheck.reference import ReferenceModel

RNG = np.random.default_rng(11)


def exact(*inputs, outputs=("out",)):
    """A spec-4 builder (exact array mapping) with the given (name, shape) inputs."""
    return NeuralNetworkBuilder([(n, datatypes.Array(*s)) for n, s in inputs],
                                [(o, None) for o in outputs], disable_rank5_shape_mapping=True)


def run(builder, **feeds):
    return ReferenceModel(builder.spec).predict(
        {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})


# -- pooling ----------------------------------------------------------------------------------


def _pool(x, kind, k, s, pad, exclude=True, ph=0, pw=0, same_mode="BOTTOM_RIGHT_HEAVY"):
    b = exact(("x", x.shape))
    b.add_pooling("p", k[0], k[1], s[0], s[1], kind, pad, "x", "out", exclude_pad_area=exclude,
                  padding_top=ph, padding_bottom=ph, padding_left=pw, padding_right=pw,
                  same_padding_asymmetry_mode=same_mode)
    return run(b, x=x)["out"]


def test_include_last_pixel_drops_a_window_past_the_input_when_any_axis_is_padded():
    # H: 5 rows, k=1, s=3, no H padding; W padded by 1. H_out = ceil(4/3) + 1 = 3, and since
    # (3 - 1)·3 = 6 ≥ 5 + 0 with paddingAmounts[1] > 0, H_out = 2 (rows 0 and 3).
    x = np.arange(1, 16, dtype=np.float32).reshape(1, 1, 5, 3)
    out = _pool(x, "MAX", (1, 2), (3, 2), "INCLUDE_LAST_PIXEL", ph=0, pw=1)
    # W: ceil((3 + 2 - 2)/2) + 1 = 3; (3 - 1)·2 = 4 ≥ 3 + 1 → 2 columns: [pad, c0], [c1, c2]
    expected = np.array([[1, 3], [10, 12]], dtype=np.float32)
    np.testing.assert_array_equal(out[0, 0], expected)


def test_include_last_pixel_average_counts_declared_padding_only():
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    out = _pool(x, "AVERAGE", (3, 3), (2, 2), "INCLUDE_LAST_PIXEL", exclude=False, ph=1, pw=1)
    # H_out = ceil((4 + 2 - 3)/2) + 1 = 3; (3 - 1)·2 = 4 ≥ 4 + 1? no → 3. Windows start at
    # -1, 1, 3; the last one covers rows 3, 4 (declared pad), 5 (ceil extension, not counted).
    padded = np.pad(x[0, 0], 1)
    expected = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            window = padded[2 * i:2 * i + 3, 2 * j:2 * j + 3]
            rows = min(3, 6 - 2 * i)
            cols = min(3, 6 - 2 * j)
            expected[i, j] = window.sum() / (rows * cols)
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)


@pytest.mark.parametrize("exclude", [True, False])
def test_same_average_pooling_exclude_padding(exclude):
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    out = _pool(x, "AVERAGE", (2, 2), (1, 1), "SAME", exclude=exclude)
    # SAME, BOTTOM_RIGHT_HEAVY: total padding 1 per axis, all of it at the bottom/right
    expected = np.array([[(1 + 2 + 4 + 5) / 4, (2 + 3 + 5 + 6) / 4, (3 + 6) / 2],
                         [(4 + 5 + 7 + 8) / 4, (5 + 6 + 8 + 9) / 4, (6 + 9) / 2],
                         [(7 + 8) / 2, (8 + 9) / 2, 9 / 1]])
    if not exclude:
        expected = np.array([[3, 4, 9 / 4], [6, 7, 15 / 4], [15 / 4, 17 / 4, 9 / 4]])
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)


def test_same_max_pooling_top_left_heavy():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    out = _pool(x, "MAX", (2, 2), (1, 1), "SAME", same_mode="TOP_LEFT_HEAVY")
    # the one padding row/column goes first: window (i, j) covers rows i-1..i, cols j-1..j
    np.testing.assert_array_equal(out[0, 0], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])


def test_global_pooling_l2_and_average():
    x = RNG.standard_normal((1, 2, 3, 4)).astype(np.float32)
    b = exact(("x", x.shape), outputs=("avg", "l2"))
    b.add_pooling("a", 1, 1, 1, 1, "AVERAGE", "VALID", "x", "avg", is_global=True)
    b.add_pooling("l", 1, 1, 1, 1, "L2", "VALID", "x", "l2", is_global=True)
    out = run(b, x=x)
    np.testing.assert_allclose(out["avg"].reshape(-1), x.mean(axis=(2, 3)).reshape(-1),
                               rtol=1e-5)
    np.testing.assert_allclose(out["l2"].reshape(-1),
                               np.sqrt((x ** 2).sum(axis=(2, 3))).reshape(-1), rtol=1e-5)


# -- upsample / resize ------------------------------------------------------------------------


def _lerp_numpy(x, rows, cols):
    """Bilinear sampling of the last two axes at fractional grid points, in numpy."""
    def along(a, pos, axis):
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, a.shape[axis] - 1)
        t = pos - lo
        shape = [1] * a.ndim
        shape[axis] = -1
        return np.take(a, lo, axis) * (1 - t.reshape(shape)) + np.take(a, hi, axis) * \
            t.reshape(shape)
    return along(along(x.astype(np.float64), rows, x.ndim - 2), cols, x.ndim - 1)


def _upsample_grid(mode, x_in, x_out):
    """UpsampleLayerParams.LinearUpsampleMode, transcribed."""
    i = np.arange(x_out)
    if mode == "DEFAULT":
        spacing = (x_in - x_in / x_out) / (x_out - 1)
        pts = i * spacing
    elif mode == "ALIGN_CORNERS_TRUE":
        pts = i * (x_in - 1) / (x_out - 1)
    else:
        spacing = x_in / x_out
        pts = i * spacing + 0.5 * spacing - 0.5
    return np.clip(pts, 0, x_in - 1)


@pytest.mark.parametrize("mode", ["DEFAULT", "ALIGN_CORNERS_TRUE", "ALIGN_CORNERS_FALSE"])
def test_bilinear_upsample_grids(mode):
    x = RNG.standard_normal((1, 2, 3, 4)).astype(np.float32)
    b = exact(("x", x.shape))
    b.add_upsample("u", 2, 3, "x", "out", mode="BILINEAR", linear_upsample_mode=mode)
    out = run(b, x=x)["out"]
    expected = _lerp_numpy(x, _upsample_grid(mode, 3, 6), _upsample_grid(mode, 4, 12))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_fractional_bilinear_upsample():
    x = RNG.standard_normal((1, 1, 4, 4)).astype(np.float32)
    b = exact(("x", x.shape))
    b.add_upsample("u", 1.5, 2.5, "x", "out", mode="BILINEAR",
                   linear_upsample_mode="ALIGN_CORNERS_TRUE")
    out = run(b, x=x)["out"]
    assert out.shape == (1, 1, 6, 10)
    expected = _lerp_numpy(x, _upsample_grid("ALIGN_CORNERS_TRUE", 4, 6),
                           _upsample_grid("ALIGN_CORNERS_TRUE", 4, 10))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_nearest_upsample_repeats_pixels():
    x = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    b = exact(("x", x.shape))
    b.add_upsample("u", 2, 3, "x", "out")
    out = run(b, x=x)["out"]
    np.testing.assert_array_equal(out[0, 0], [[1, 1, 1, 2, 2, 2]] * 2 + [[3, 3, 3, 4, 4, 4]] * 2)


def _sampling_grid(mode, x, n):
    """SamplingMode.Method, transcribed (numpy.linspace per the proto)."""
    if mode == "STRICT_ALIGN_ENDPOINTS_MODE":
        return np.linspace(0, x - 1, n)
    if mode == "ALIGN_ENDPOINTS_MODE":
        return np.full(1, (x - 1) / 2) if n == 1 else np.linspace(0, x - 1, n)
    if mode == "UPSAMPLE_MODE":
        return np.minimum(x - 1, np.linspace(0, x - x / n, n))
    spacing = max(1, x - 1) / n
    start = 0.5 * spacing
    return np.minimum(x - 1, np.linspace(start, start + (n - 1) * spacing, n))


@pytest.mark.parametrize("mode", ["STRICT_ALIGN_ENDPOINTS_MODE", "ALIGN_ENDPOINTS_MODE",
                                  "UPSAMPLE_MODE", "ROI_ALIGN_MODE"])
@pytest.mark.parametrize("size", [(1, 7), (5, 2)])
def test_resize_bilinear_sampling_modes(mode, size):
    x = RNG.standard_normal((1, 2, 4, 5)).astype(np.float32)
    b = exact(("x", x.shape))
    b.add_resize_bilinear("r", "x", "out", target_height=size[0], target_width=size[1],
                          mode=mode)
    out = run(b, x=x)["out"]
    expected = _lerp_numpy(x, _sampling_grid(mode, 4, size[0]), _sampling_grid(mode, 5, size[1]))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


# -- element-wise -----------------------------------------------------------------------------


def test_round_ties_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4, -2.6], dtype=np.float32)
    b = exact(("x", x.shape))
    b.add_round("r", "x", "out")
    np.testing.assert_array_equal(run(b, x=x)["out"], [0, 2, 2, -0, -2, 2, -3])


def test_floor_div_and_mod_follow_the_divisor_sign():
    a = np.array([-7, 7, -7, 7, 6.5], dtype=np.float32)
    d = np.array([2, -2, -2, 2, -2], dtype=np.float32)
    b = exact(("a", a.shape), ("d", d.shape), outputs=("q", "m"))
    b.add_floor_div_broadcastable("q", ["a", "d"], "q")
    b.add_mod_broadcastable("m", ["a", "d"], "m")
    out = run(b, a=a, d=d)
    np.testing.assert_array_equal(out["q"], [-4, -4, 3, 3, -4])
    np.testing.assert_array_equal(out["m"], [1, -1, -1, 1, -1.5])  # a − d·⌊a/d⌋


def test_clip():
    x = np.array([-3, -0.5, 0.2, 4], dtype=np.float32)
    b = exact(("x", x.shape))
    b.add_clip("c", "x", "out", min_value=-1.0, max_value=0.5)
    np.testing.assert_array_equal(run(b, x=x)["out"], np.float32([-1, -0.5, 0.2, 0.5]))


_ACTIVATIONS = [
    ("LINEAR", [0.5, -1.0], lambda x: 0.5 * x - 1.0),
    ("LEAKYRELU", [0.1], lambda x: np.where(x >= 0, x, 0.1 * x)),
    ("THRESHOLDEDRELU", 0.3, lambda x: np.where(x >= 0.3, x, 0)),
    ("SCALED_TANH", [2.0, 0.5], lambda x: 2.0 * np.tanh(0.5 * x)),
    ("SIGMOID_HARD", [0.2, 0.5], lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ("ELU", 0.7, lambda x: np.where(x >= 0, x, 0.7 * (np.exp(x) - 1))),
    ("SOFTSIGN", None, lambda x: x / (1 + np.abs(x))),
    ("SOFTPLUS", None, lambda x: np.log1p(np.exp(x))),
]


@pytest.mark.parametrize("kind, params, formula", _ACTIVATIONS, ids=[a[0] for a in _ACTIVATIONS])
def test_activation_formulas(kind, params, formula):
    x = np.linspace(-3, 3, 13, dtype=np.float32).reshape(1, 13, 1)
    b = exact(("x", x.shape))
    b.add_activation("a", kind, "x", "out", params=params)
    np.testing.assert_allclose(run(b, x=x)["out"], formula(x.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)


def test_prelu_and_parametric_softplus_per_channel():
    x = RNG.standard_normal((3, 2, 2)).astype(np.float32) * 2
    alpha = np.array([0.1, 0.5, 2.0], dtype=np.float32)
    beta = np.array([1.0, 0.5, 3.0], dtype=np.float32)
    b = exact(("x", x.shape), outputs=("p", "s"))
    b.add_activation("p", "PRELU", "x", "p", params=alpha)
    b.add_activation("s", "PARAMETRICSOFTPLUS", "x", "s", params=[alpha, beta])
    out = run(b, x=x)
    a3, b3 = alpha[:, None, None], beta[:, None, None]
    np.testing.assert_allclose(out["p"], np.where(x >= 0, x, a3 * x), rtol=1e-6)
    np.testing.assert_allclose(out["s"], a3 * np.log1p(np.exp(b3 * x)), rtol=1e-5)


@pytest.mark.parametrize("mode, alpha, formula", [
    ("rsqrt", 1.0, lambda z, e: 1 / np.sqrt(z + e)),
    ("inverse", 1.0, lambda z, e: 1 / (z + e)),
    ("power", 3.0, lambda z, e: z ** 3),
    ("threshold", 2.5, lambda z, e: np.maximum(2.5, z)),
])
def test_unary_scale_shift_then_epsilon(mode, alpha, formula):
    x = np.array([0.0, 0.5, 1.0, 2.0], dtype=np.float64)
    b = exact(("x", x.shape))
    b.add_unary("u", "x", "out", mode, alpha=alpha, shift=0.25, scale=2.0, epsilon=0.01)
    z = 2.0 * x + 0.25
    np.testing.assert_allclose(run(b, x=x)["out"], formula(z, 0.01), rtol=1e-5)


# -- normalisation ----------------------------------------------------------------------------


def test_mvn_epsilon_inside_the_square_root():
    x = np.array([[[1.0, 1.0 + 1e-3], [1.0, 1.0 - 1e-3]]], dtype=np.float32)  # var = 5e-7
    b = exact(("x", x.shape))
    b.add_mvn("m", "x", "out", across_channels=False, normalize_variance=True, epsilon=1e-6)
    centred = x.astype(np.float64) - x.mean()
    expected = centred / np.sqrt(centred.var() + 1e-6)  # not centred / (std + ε)
    np.testing.assert_allclose(run(b, x=x)["out"], expected, rtol=1e-3)


def test_l2_normalize_epsilon_inside_the_square_root():
    x = np.full((2, 1, 1), 1e-3, dtype=np.float32)  # Σx² = 2e-6
    b = exact(("x", x.shape))
    b.add_l2_normalize("l", "x", "out", epsilon=1e-6)
    np.testing.assert_allclose(run(b, x=x)["out"], x / np.sqrt(2e-6 + 1e-6), rtol=1e-4)


def test_layer_normalization_epsilon_inside_the_square_root():
    x = np.array([[1.0, 1.001, 0.999, 1.0]], dtype=np.float32)  # var = 5e-7
    gamma = np.array([1.0, 2.0, 1.0, 1.0], dtype=np.float32)
    beta = np.array([0.0, 0.0, 0.5, 0.0], dtype=np.float32)
    b = exact(("x", x.shape))
    b.add_layer_normalization("n", "x", "out", [4], gamma, beta, eps=1e-6)
    c = x.astype(np.float64) - x.mean()
    expected = c / np.sqrt(c.var() + 1e-6) * gamma + beta
    np.testing.assert_allclose(run(b, x=x)["out"], expected, rtol=1e-3, atol=1e-4)


def test_softmax_nd_axis():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    b = exact(("x", x.shape))
    b.add_softmax_nd("s", "x", "out", axis=-2)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(run(b, x=x)["out"], e / e.sum(axis=1, keepdims=True), rtol=1e-5)


# -- reductions, arg-max, top-k, cumsum -------------------------------------------------------


def test_reduce_all_keep_dims_and_legacy_logsum():
    x = RNG.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
    b = exact(("x", x.shape), outputs=("all", "kept", "logsum"))
    b.add_reduce_sum("s", "x", "all", reduce_all=True, keepdims=False)
    b.add_reduce_sum("k", "x", "kept", axes=[0, 2], keepdims=True)
    b.add_reduce("l", "x", "logsum", axis="HW", mode="logsum", epsilon=0.5)
    out = run(b, x=x)
    np.testing.assert_allclose(out["all"], [x.sum()], rtol=1e-5)
    np.testing.assert_allclose(out["kept"], x.sum(axis=(0, 2), keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(out["logsum"], np.log(x + 0.5).sum(axis=(1, 2), keepdims=True),
                               rtol=1e-5)


def test_argmax_ties_pick_the_first_index():
    x = np.array([[1, 5, 5, 2], [7, 7, 7, 7]], dtype=np.float32)
    b = exact(("x", x.shape))
    b.add_argmax("a", "x", "out", axis=1, keepdims=False)
    np.testing.assert_array_equal(run(b, x=x)["out"], [1, 0])


def test_topk_ties_keep_index_order():
    x = np.array([[3, 1, 3, 2, 3]], dtype=np.float32)
    b = exact(("x", x.shape), outputs=("v", "i"))
    b.add_topk("t", ["x"], ["v", "i"], k=3, axis=1)
    out = run(b, x=x)
    np.testing.assert_array_equal(out["v"], [[3, 3, 3]])
    np.testing.assert_array_equal(out["i"], [[0, 2, 4]])


@pytest.mark.parametrize("exclusive, reverse, expected", [
    (False, False, [4, 10, 17]), (True, False, [0, 4, 10]),
    (False, True, [17, 13, 7]), (True, True, [13, 7, 0])])
def test_cumsum_proto_examples(exclusive, reverse, expected):
    b = exact(("x", (3,)))
    b.add_cumsum("c", ["x"], "out", axis=0, reverse=reverse, exclusive=exclusive)
    np.testing.assert_array_equal(run(b, x=[4, 6, 7])["out"], expected)


# -- data movement ----------------------------------------------------------------------------


def test_space_to_depth_and_depth_to_space_orderings():
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    b = exact(("x", x.shape))
    b.add_reorganize_data("a", "x", "out", mode="SPACE_TO_DEPTH", block_size=2)
    s2d = np.empty((8, 2, 2), np.float32)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                s2d[(i * 2 + j) * 2 + c] = x[c, i::2, j::2]  # depth index (i·b + j)·C + c
    np.testing.assert_array_equal(run(b, x=x)["out"], s2d)
    b = exact(("y", s2d.shape))
    b.add_reorganize_data("b", "y", "out", mode="DEPTH_TO_SPACE", block_size=2)
    np.testing.assert_array_equal(run(b, y=s2d)["out"], x)  # the inverse


def test_pixel_shuffle_ordering():
    x = np.arange(8 * 2 * 2, dtype=np.float32).reshape(8, 2, 2)
    b = exact(("x", x.shape))
    b.add_reorganize_data("p", "x", "out", mode="PIXEL_SHUFFLE", block_size=2)
    out = run(b, x=x)["out"]
    expected = np.empty((2, 4, 4), np.float32)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                expected[c, i::2, j::2] = x[c * 4 + i * 2 + j]  # depth index c·b² + i·b + j
    np.testing.assert_array_equal(out, expected)


def test_slice_static_strides_and_masks():
    x = np.arange(4 * 7, dtype=np.float32).reshape(4, 7)
    b = exact(("x", x.shape))
    b.add_slice_static("s", "x", "out", begin_ids=[1, 6], end_ids=[0, 0], strides=[2, -2],
                       begin_masks=[False, False], end_masks=[True, True])
    np.testing.assert_array_equal(run(b, x=x)["out"], x[1::2, 6::-2])


def test_deconvolution_with_output_shape():
    x = RNG.standard_normal((1, 1, 3, 3)).astype(np.float32)
    w = RNG.standard_normal((1, 1, 3, 3)).astype(np.float32)
    b = exact(("x", x.shape))
    b.add_convolution("d", kernel_channels=1, output_channels=1, height=3, width=3,
                      stride_height=2, stride_width=2, border_mode="valid", groups=1,
                      W=w.transpose(2, 3, 0, 1), b=None, has_bias=False, is_deconv=True,
                      output_shape=[8, 8], input_name="x", output_name="out")
    out = run(b, x=x)["out"]
    full = np.zeros((9, 9))  # (3 − 1)·2 + 3 = 7 rows before extension to the outputShape
    for i in range(3):
        for j in range(3):
            full[2 * i:2 * i + 3, 2 * j:2 * j + 3] += x[0, 0, i, j] * w[0, 0]
    assert out.shape == (1, 1, 8, 8)
    np.testing.assert_allclose(out[0, 0], full[:8, :8], rtol=1e-5, atol=1e-6)


# -- recurrent --------------------------------------------------------------------------------


def _seq_builder(seq, n_in, outputs):
    """Rank-5 spec: input [1, Seq, I] permuted to [Seq, 1, I, 1, 1]."""
    b = NeuralNetworkBuilder([("x", datatypes.Array(1, seq, n_in))], [(o, None) for o in outputs])
    b.add_permute("seq", dim=(2, 3, 0, 1), input_name="x", output_name="xs")
    return b


def _hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0, 1)


@pytest.mark.parametrize("reverse", [False, True])
def test_gru_gate_order_z_r_o(reverse):
    n_in, hidden, seq = 2, 3, 4
    w = [RNG.standard_normal((hidden, n_in)) for _ in range(3)]  # z, r, o
    r = [RNG.standard_normal((hidden, hidden)) * 0.5 for _ in range(3)]
    bias = [RNG.standard_normal(hidden) for _ in range(3)]
    b = _seq_builder(seq, n_in, ("y", "h"))
    b.add_gru("g", W_h=r, W_x=w, b=bias, hidden_size=hidden, input_size=n_in,
              input_names=["xs"], output_names=["y", "h"], output_all=True,
              reverse_input=reverse)
    x = RNG.standard_normal((seq, n_in))
    out = run(b, x=x[None])
    h, ys = np.zeros(hidden), []
    for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
        z = _hard_sigmoid(w[0] @ x[t] + r[0] @ h + bias[0])
        rr = _hard_sigmoid(w[1] @ x[t] + r[1] @ h + bias[1])
        o = np.tanh(w[2] @ x[t] + r[2] @ (rr * h) + bias[2])
        h = (1 - z) * o + z * h
        ys.append(h)
    np.testing.assert_allclose(out["y"].reshape(seq, hidden), np.stack(ys), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(out["h"].reshape(-1), h, rtol=1e-4, atol=1e-5)


def test_simple_rnn_last_step_only():
    n_in, hidden, seq = 2, 3, 4
    w, r = RNG.standard_normal((hidden, n_in)), RNG.standard_normal((hidden, hidden)) * 0.5
    bias = RNG.standard_normal(hidden)
    b = _seq_builder(seq, n_in, ("y", "h"))
    b.add_simple_rnn("s", W_h=r, W_x=w, b=bias, hidden_size=hidden, input_size=n_in,
                     activation="TANH", input_names=["xs"], output_names=["y", "h"])
    x = RNG.standard_normal((seq, n_in))
    out = run(b, x=x[None])
    h = np.zeros(hidden)
    for t in range(seq):
        h = np.tanh(w @ x[t] + r @ h + bias)
    np.testing.assert_allclose(out["y"].reshape(-1), h, rtol=1e-4, atol=1e-5)


def _lstm(x, w, r, bias, peep=None):
    """Proto LSTM with gates (i, f, o, z) as the builder orders them."""
    hidden = r[0].shape[0]
    h, c, ys = np.zeros(hidden), np.zeros(hidden), []
    sig = _sigmoid
    for xt in x:
        gi, gf, go, gz = (w[k] @ xt + r[k] @ h + bias[k] for k in range(4))
        if peep is not None:
            gi, gf = gi + peep[0] * c, gf + peep[1] * c
        c = sig(gf) * c + sig(gi) * np.tanh(gz)
        if peep is not None:
            go = go + peep[2] * c
        h = sig(go) * np.tanh(c)
        ys.append(h)
    return np.stack(ys), h, c


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_lstm_peepholes_and_bidirectional_alignment():
    n_in, hidden, seq = 2, 3, 4
    make = lambda: ([RNG.standard_normal((hidden, n_in)) for _ in range(4)],  # noqa: E731
                    [RNG.standard_normal((hidden, hidden)) * 0.5 for _ in range(4)],
                    [RNG.standard_normal(hidden) for _ in range(4)])
    (wf, rf, bf), (wb, rb, bb) = make(), make()
    peep = [RNG.standard_normal(hidden) for _ in range(3)]
    b = _seq_builder(seq, n_in, ("u", "y", "hf", "cf", "hb", "cb"))
    b.add_unilstm("u", W_h=rf, W_x=wf, b=bf, hidden_size=hidden, input_size=n_in,
                  input_names=["xs"], output_names=["u", "uh", "uc"], peep=peep,
                  output_all=True)
    b.add_bidirlstm("bi", W_h=rf, W_x=wf, b=bf, W_h_back=rb, W_x_back=wb, b_back=bb,
                    hidden_size=hidden, input_size=n_in, input_names=["xs"],
                    output_names=["y", "hf", "cf", "hb", "cb"], output_all=True)
    x = RNG.standard_normal((seq, n_in))
    out = run(b, x=x[None])
    ys_peep, _, _ = _lstm(x, wf, rf, bf, peep)
    np.testing.assert_allclose(out["u"].reshape(seq, hidden), ys_peep, rtol=1e-4, atol=1e-5)
    ys_f, _, _ = _lstm(x, wf, rf, bf)
    ys_b, hb, _ = _lstm(x[::-1], wb, rb, bb)
    # step t holds (forward y_t, backward output that has seen x_T … x_t)
    expected = np.concatenate([ys_f, ys_b[::-1]], axis=1)
    np.testing.assert_allclose(out["y"].reshape(seq, 2 * hidden), expected, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(out["hb"].reshape(-1), hb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode, expected", [
    ("UPDATE", [[0, 0], [5, 6], [0, 0]]),  # the proto's loop: the last update of row 1 stays
    ("ADD", [[0, 0], [6, 8], [0, 0]]),
    ("MAX", [[0, 0], [5, 6], [0, 0]]),
])
def test_scatter_repeated_indices_apply_in_order(mode, expected):
    b = exact(("data", (3, 2)), ("idx", (2,)), ("upd", (2, 2)))
    b.add_scatter("s", ["data", "idx", "upd"], "out", axis=0, mode=mode)
    out = run(b, data=np.zeros((3, 2)), idx=[1, 1], upd=[[1, 2], [5, 6]])["out"]
    np.testing.assert_array_equal(out, expected)


def test_gather_negative_indices():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = exact(("x", x.shape), ("i", (2,)))
    b.add_gather("g", ["x", "i"], "out", axis=1)
    np.testing.assert_array_equal(run(b, x=x, i=[-1, 0])["out"], x[:, [3, 0]])


def test_same_convolution_top_left_heavy():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2), dtype=np.float32)
    b = exact(("x", x.shape))
    b.add_convolution("c", kernel_channels=1, output_channels=1, height=2, width=2,
                      stride_height=1, stride_width=1, border_mode="same", groups=1,
                      W=w.transpose(2, 3, 0, 1), b=None, has_bias=False, input_name="x",
                      output_name="out", same_padding_asymmetry_mode="TOP_LEFT_HEAVY")
    padded = np.pad(x[0, 0], ((1, 0), (1, 0)))  # the odd padding row/column goes first
    expected = np.array([[padded[i:i + 2, j:j + 2].sum() for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(run(b, x=x)["out"][0, 0], expected)


def test_lstm_without_biases_reversed_last_step():
    n_in, hidden, seq = 2, 3, 5
    w = [RNG.standard_normal((hidden, n_in)) for _ in range(4)]
    r = [RNG.standard_normal((hidden, hidden)) * 0.5 for _ in range(4)]
    b = _seq_builder(seq, n_in, ("y", "h", "c"))
    b.add_unilstm("u", W_h=r, W_x=w, b=None, hidden_size=hidden, input_size=n_in,
                  input_names=["xs"], output_names=["y", "h", "c"], reverse_input=True)
    assert not b.spec.neuralNetwork.layers[-1].uniDirectionalLSTM.params.hasBiasVectors
    x = RNG.standard_normal((seq, n_in))
    out = run(b, x=x[None])
    _, h, c = _lstm(x[::-1], w, r, [np.zeros(hidden)] * 4)
    np.testing.assert_allclose(out["y"].reshape(-1), h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["c"].reshape(-1), c, rtol=1e-4, atol=1e-5)
