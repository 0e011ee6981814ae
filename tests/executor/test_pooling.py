"""Pooling by Core ML's window rules (ceil mode, padding), against numpy and, where the two
definitions agree, torch."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb

from .helpers import run, spec


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("exclude", [False, True])
def test_avg_and_max_pool_ceil_mode(rng, ceil_mode, exclude):
    x = rng.normal(size=(1, 2, 15, 15)).astype(np.float32)

    @mb.program(input_specs=[spec(1, 2, 15, 15)], opset_version=ct.target.iOS17)
    def prog(x):
        kwargs = dict(kernel_sizes=[2, 2], strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1],
                      ceil_mode=ceil_mode)
        return (mb.avg_pool(x=x, exclude_padding_from_average=exclude, **kwargs),
                mb.max_pool(x=x, **kwargs))

    avg, mx = run(prog, {"x": x})
    t = torch.from_numpy(x)
    expect_avg = torch.nn.functional.avg_pool2d(t, 2, 2, 1, ceil_mode, not exclude)
    expect_max = torch.nn.functional.max_pool2d(t, 2, 2, 1, 1, ceil_mode)
    assert avg.shape == tuple(expect_avg.shape)  # ceil: 8, the window in the padding dropped
    np.testing.assert_allclose(avg, expect_avg.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mx, expect_max.numpy(), rtol=1e-6)


def test_same_padding_and_l2_pool(rng):
    x = rng.normal(size=(1, 1, 5, 6)).astype(np.float32)

    @mb.program(input_specs=[spec(1, 1, 5, 6)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.max_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="same"),
                mb.l2_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid"))

    same, l2 = run(prog, {"x": x})
    padded = np.pad(x, [(0, 0), (0, 0), (1, 1), (0, 1)], constant_values=-np.inf)
    expect = torch.nn.functional.max_pool2d(torch.from_numpy(padded), 3, 2).numpy()
    np.testing.assert_array_equal(same, expect)
    expect_l2 = np.sqrt((x[..., :4, :6] ** 2).reshape(1, 1, 2, 2, 3, 2).sum(axis=(3, 5)))
    np.testing.assert_allclose(l2, expect_l2, rtol=1e-5)


def _window_sums(padded: np.ndarray, k: int, s: int, out: int) -> np.ndarray:
    """Sums of k×k windows at stride s of a 2-D array, out×out of them (plain numpy)."""
    return np.array([[padded[i * s:i * s + k, j * s:j * s + k].sum() for j in range(out)]
                     for i in range(out)])


@pytest.mark.parametrize("exclude", [False, True])
def test_avg_pool_ceil_mode_divides_the_overhang_as_padding(exclude):
    """Core ML's ceil mode: the part of a last window past the input is padding, so without
    ``exclude_padding_from_average`` an overhanging window is divided by the full kernel
    (coremltools PR #2844: 4.75 where PyTorch gives 9.5)."""
    x = np.arange(49, dtype=np.float32).reshape(1, 1, 7, 7)

    @mb.program(input_specs=[spec(1, 1, 7, 7)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.avg_pool(x=x, kernel_sizes=[2, 2], strides=[3, 3], pad_type="valid",
                           ceil_mode=True, exclude_padding_from_average=exclude)

    (out,) = run(prog, {"x": x})
    padded = np.pad(x[0, 0], [(0, 1), (0, 1)])  # out = floor((7 - 2 + 2) / 3) + 1 = 3
    real = np.pad(np.ones((7, 7)), [(0, 1), (0, 1)])
    divisor = _window_sums(real, 2, 3, 3) if exclude else 4.0
    expect = _window_sums(padded, 2, 3, 3) / divisor
    np.testing.assert_allclose(out[0, 0], expect, rtol=1e-6)
    assert out[0, 0, 0, 2] == (9.5 if exclude else 4.75)
    assert out[0, 0, 2, 2] == (48.0 if exclude else 12.0)


def test_pool_ceil_mode_keeps_a_window_past_the_input_without_padding():
    """MIL drops a last ceil-mode window starting past the input only when there is padding
    (PyTorch always drops it): length 5, kernel 1, stride 3 gives 3 windows, not 2."""
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]], dtype=np.float32)

    @mb.program(input_specs=[spec(1, 1, 5)], opset_version=ct.target.iOS17)
    def prog(x):
        kw = dict(kernel_sizes=[1], strides=[3], pad_type="valid", ceil_mode=True)
        return (mb.avg_pool(x=x, **kw), mb.avg_pool(x=x, exclude_padding_from_average=True, **kw),
                mb.max_pool(x=x, **kw))

    avg, avg_excl, mx = run(prog, {"x": x})
    np.testing.assert_array_equal(avg[0, 0], [1.0, 4.0, 0.0])
    np.testing.assert_array_equal(avg_excl[0, 0], [1.0, 4.0, 0.0])
    np.testing.assert_array_equal(mx[0, 0], [1.0, 4.0, -np.inf])


def test_avg_pool_same_lower_and_custom_asymmetric_padding():
    """``same_lower`` puts the odd padding row first; the count excludes it only on request."""
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)

    @mb.program(input_specs=[spec(1, 1, 4, 4)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.avg_pool(x=x, kernel_sizes=[2, 2], strides=[1, 1], pad_type="same_lower"),
                mb.avg_pool(x=x, kernel_sizes=[2, 2], strides=[1, 1], pad_type="same_lower",
                            exclude_padding_from_average=True),
                mb.avg_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom",
                            pad=[2, 0, 0, 1]))

    lower, lower_excl, custom = run(prog, {"x": x})
    padded = np.pad(x[0, 0], [(1, 0), (1, 0)])
    real = np.pad(np.ones((4, 4)), [(1, 0), (1, 0)])
    sums = np.array([[padded[i:i + 2, j:j + 2].sum() for j in range(4)] for i in range(4)])
    counts = np.array([[real[i:i + 2, j:j + 2].sum() for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(lower[0, 0], sums / 4)
    np.testing.assert_allclose(lower_excl[0, 0], sums / counts)
    padded = np.pad(x[0, 0], [(2, 0), (0, 1)])  # 6×5 -> out (6-3)//2+1 = 2, (5-3)//2+1 = 2
    expect = np.array([[padded[2 * i:2 * i + 3, 2 * j:2 * j + 3].sum() / 9 for j in range(2)]
                       for i in range(2)])
    np.testing.assert_allclose(custom[0, 0], expect, rtol=1e-6)


@pytest.fixture(scope="module")
def ceil_avg_pool_model():
    """torch ``nn.AvgPool2d(3, 2, ceil_mode=True)`` converted by coremltools, and its source."""
    source = torch.nn.AvgPool2d(3, 2, ceil_mode=True).eval()
    example = torch.arange(36, dtype=torch.float32).reshape(1, 1, 6, 6)
    model = ct.convert(torch.jit.trace(source, example), convert_to="mlprogram",
                       inputs=[ct.TensorType(name="x", shape=example.shape)],
                       compute_precision=ct.precision.FLOAT32, skip_model_load=True)
    return source, model, example


def test_converted_torch_ceil_mode_avg_pool_runs_core_ml_semantics(ceil_avg_pool_model):
    """coremltools 9.0 lowers ``count_include_pad=True`` to
    ``exclude_padding_from_average=False``: Core ML divides the overhanging windows by 9 where
    PyTorch divides by the 6 (edge) or 4 (corner) elements inside the input."""
    from pytest_coremlcheck.reference import ReferenceModel

    source, model, example = ceil_avg_pool_model
    ops = [op for op in model._mil_program.functions["main"].operations
           if op.op_type == "avg_pool"]
    assert ops and not ops[0].exclude_padding_from_average.val and ops[0].ceil_mode.val
    (out,) = ReferenceModel(model).predict({"x": example.numpy()}).values()
    x = example.numpy()[0, 0]
    padded = np.pad(x, [(0, 1), (0, 1)])  # out = floor((6 - 3 + 1) / 2) + 1 = 3
    expect = _window_sums(padded, 3, 2, 3) / 9
    np.testing.assert_allclose(out[0, 0], expect, rtol=1e-6)
    assert out[0, 0, 2, 2] == pytest.approx((28 + 29 + 34 + 35) / 9)
    assert source(example)[0, 0, 2, 2].item() == pytest.approx((28 + 29 + 34 + 35) / 4)


def test_check_of_converted_torch_ceil_mode_avg_pool_fails(ceil_avg_pool_model):
    from pytest_coremlcheck import assert_equivalent

    source, model, example = ceil_avg_pool_model
    with pytest.raises(AssertionError) as failure:
        assert_equivalent(source, model, {"x": example.numpy()}, backend="reference")
    assert "max_abs" in str(failure.value) or "snr" in str(failure.value).lower()
