"""Convolution, transposed convolution and normalisation against torch."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb

from .helpers import run, spec


@pytest.mark.parametrize("pad_type, pad", [("valid", None), ("same", None),
                                           ("custom", [1, 0, 2, 1])])
def test_conv_groups_dilation(rng, pad_type, pad):
    x = rng.normal(size=(1, 4, 7, 8)).astype(np.float32)
    w = rng.normal(size=(6, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)

    @mb.program(input_specs=[spec(1, 4, 7, 8)], opset_version=ct.target.iOS17)
    def prog(x):
        kwargs = {"pad": pad} if pad else {}
        return mb.conv(x=x, weight=w, bias=b, strides=[1, 2], dilations=[2, 1], groups=2,
                       pad_type=pad_type, **kwargs)

    out = run(prog, {"x": x})[0]
    t = torch.from_numpy(x)
    if pad_type == "same":  # out = ceil(in / stride): H pads 2 (1, 1), W pads 1 (0, 1)
        t = torch.nn.functional.pad(t, [0, 1, 2, 2])
    elif pad_type == "custom":
        t = torch.nn.functional.pad(t, [2, 1, 1, 0])
    expect = torch.nn.functional.conv2d(t, torch.from_numpy(w), torch.from_numpy(b),
                                        stride=(1, 2), dilation=(2, 1), groups=2)
    np.testing.assert_allclose(out, expect.numpy(), rtol=1e-4, atol=1e-5)


def test_conv_transpose_output_shape_and_same(rng):
    x = rng.normal(size=(1, 3, 4, 5)).astype(np.float32)
    w = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)

    @mb.program(input_specs=[spec(1, 3, 4, 5)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.conv_transpose(x=x, weight=w, strides=[2, 2], pad_type="custom",
                                  pad=[1, 1, 1, 1]),
                mb.conv_transpose(x=x, weight=w, strides=[2, 2], pad_type="same"))

    custom, same = run(prog, {"x": x})
    full = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w),
                                                stride=2).numpy()  # 9 x 11
    np.testing.assert_allclose(custom, full[:, :, 1:-1, 1:-1], rtol=1e-4, atol=1e-5)
    assert same.shape == (1, 2, 8, 10)  # same: out = in * stride
    np.testing.assert_allclose(same, full[:, :, 0:8, 0:10], rtol=1e-4, atol=1e-5)


def test_normalisations(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    gamma = rng.normal(size=3).astype(np.float32)
    beta = rng.normal(size=3).astype(np.float32)
    ln_gamma = rng.normal(size=(4, 5)).astype(np.float32)

    @mb.program(input_specs=[spec(2, 3, 4, 5)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.batch_norm(x=x, mean=beta, variance=np.abs(gamma), gamma=gamma, beta=beta,
                              epsilon=1e-3),
                mb.instance_norm(x=x, gamma=gamma, beta=beta, epsilon=1e-5),
                mb.layer_norm(x=x, axes=[-2, -1], gamma=ln_gamma, epsilon=1e-5),
                mb.layer_norm(x=x, axes=[1, 3], epsilon=1e-5),
                mb.local_response_norm(x=x, size=3, alpha=1e-2, beta=0.75, k=1.0),
                mb.l2_norm(x=x, epsilon=1e-6))

    bn, inorm, ln, ln13, lrn, l2 = run(prog, {"x": x})
    t = torch.from_numpy(x)
    F = torch.nn.functional
    np.testing.assert_allclose(bn, F.batch_norm(t, torch.from_numpy(beta),
                                                torch.from_numpy(np.abs(gamma)),
                                                torch.from_numpy(gamma), torch.from_numpy(beta),
                                                eps=1e-3).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(inorm, F.instance_norm(t, weight=torch.from_numpy(gamma),
                                                      bias=torch.from_numpy(beta)).numpy(),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ln, F.layer_norm(t, (4, 5), torch.from_numpy(ln_gamma)).numpy(),
                               rtol=1e-4, atol=1e-5)
    mean = x.mean(axis=(1, 3), keepdims=True)
    var = x.var(axis=(1, 3), keepdims=True)
    np.testing.assert_allclose(ln13, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lrn, F.local_response_norm(t, 3, 1e-2, 0.75, 1.0).numpy(),
                               rtol=1e-4, atol=1e-5)
    norms = np.sqrt((x ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-6)
    np.testing.assert_allclose(l2, x / norms, rtol=1e-5)
