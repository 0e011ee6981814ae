"""Pooling against torch, including PyTorch's ceil_mode window rule."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb

from .conftest import run, spec


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
