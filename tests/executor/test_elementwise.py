"""Elementwise ops with Core ML's integer semantics, activations, and fp16 storage."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from .helpers import run, spec


def _int_program(op):
    @mb.program(input_specs=[spec(6, dtype=types.int32), spec(6, dtype=types.int32)],
                opset_version=ct.target.iOS17)
    def prog(x, y):
        return getattr(mb, op)(x=x, y=y)

    return prog


X = np.array([7, -7, 7, -7, 0, 9], np.int32)
Y = np.array([2, 2, -2, -2, 3, 3], np.int32)


@pytest.mark.parametrize("op, expect", [
    ("floor_div", [3, -4, -4, 3, 0, 3]),  # rounds toward −∞
    ("real_div", [3, -3, -3, 3, 0, 3]),  # integer quotient truncated toward 0
    ("mod", [1, 1, -1, -1, 0, 0]),  # sign of the divisor
])
def test_integer_division(op, expect):
    out = run(_int_program(op), {"x": X, "y": Y})[0]
    np.testing.assert_array_equal(out, expect)


def test_cast_truncates_and_saturates():
    @mb.program(input_specs=[spec(7)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.cast(x=mb.cast(x=x, dtype="int8"), dtype="int32"),
                mb.cast(x=mb.cast(x=x, dtype="uint8"), dtype="int32"),
                mb.cast(x=x, dtype="int32"),
                mb.cast(x=x, dtype="bool"))

    x = np.array([1.9, -1.9, 127.5, 300.0, -300.0, 0.0, -0.4], np.float32)
    to_int8, to_uint8, to_int32, to_bool = run(prog, {"x": x})
    np.testing.assert_array_equal(to_int8, [1, -1, 127, 127, -128, 0, 0])
    np.testing.assert_array_equal(to_uint8, [1, 0, 127, 255, 0, 0, 0])
    np.testing.assert_array_equal(to_int32, [1, -1, 127, 300, -300, 0, 0])
    np.testing.assert_array_equal(to_bool.astype(bool), [1, 1, 1, 1, 1, 0, 1])


def test_fp16_typed_rounds_each_op():
    """Declared fp16 values are rounded to fp16 after every op (2049 is not representable)."""

    @mb.program(input_specs=[spec(1)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.sub(x=mb.add(x=x, y=1.0), y=2048.0)

    x = np.array([2048.0], np.float32)
    typed = run(prog, {"x": x}, precision="fp16")[0]
    exact = run(prog, {"x": x}, precision="fp16", fp16_mode="fp32")[0]
    assert typed[0] == 0.0  # 2049 rounds to 2048 in fp16
    assert exact[0] == 1.0


@pytest.mark.parametrize("op, kwargs, reference", [
    ("thresholded_relu", {"alpha": 1.0}, lambda x: np.where(x >= 1.0, x, 0.0)),
    ("clamped_relu", {"alpha": 0.1, "beta": 1.5},
     lambda x: np.minimum(np.where(x >= 0, x, 0.1 * x), 1.5)),
    ("sigmoid_hard", {"alpha": 0.2, "beta": 0.5}, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ("softplus_parametric", {"alpha": np.array([1.0, 2.0], np.float32),
                             "beta": np.array([0.5, 3.0], np.float32)},
     lambda x: np.array([1.0, 2.0]).reshape(1, 2, 1, 1)
     * np.log1p(np.exp(np.array([0.5, 3.0]).reshape(1, 2, 1, 1) * x))),
    ("gelu", {"mode": "TANH_APPROXIMATION"},
     lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
    ("elu", {"alpha": 0.7}, lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1))),
])
def test_activations(op, kwargs, reference):
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(1, 2, 2, 3)
    x[0, 0, 0, 0] = 1.0  # exactly at the threshold

    @mb.program(input_specs=[spec(1, 2, 2, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        return getattr(mb, op)(x=x, **kwargs)

    out = run(prog, {"x": x})[0]
    np.testing.assert_allclose(out, reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_unary_math_matches_torch(rng):
    x = rng.uniform(0.1, 0.9, size=(3, 4)).astype(np.float32)
    ops = ["acos", "asin", "atan", "atanh", "ceil", "cos", "cosh", "erf", "exp", "exp2",
           "floor", "round", "sign", "sin", "sinh", "sqrt", "square", "tan", "tanh"]

    @mb.program(input_specs=[spec(3, 4)], opset_version=ct.target.iOS17)
    def prog(x):
        return tuple(getattr(mb, op)(x=x) for op in ops)

    outs = run(prog, {"x": x})
    t = torch.from_numpy(x)
    for op, out in zip(ops, outs):
        expect = getattr(torch, op)(t) if op != "square" else t * t
        np.testing.assert_allclose(out, expect.numpy(), rtol=1e-6, err_msg=op)


def test_log_rsqrt_inverse_epsilon():
    x = np.array([0.0, 1.0, 4.0], np.float32)

    @mb.program(input_specs=[spec(3)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.log(x=x, epsilon=1.0), mb.rsqrt(x=x, epsilon=1.0),
                mb.inverse(x=x, epsilon=1.0))

    log, rsqrt, inverse = run(prog, {"x": x})
    np.testing.assert_allclose(log, np.log(x + 1.0), rtol=1e-6)
    np.testing.assert_allclose(rsqrt, 1 / np.sqrt(x + 1.0), rtol=1e-6)
    np.testing.assert_allclose(inverse, 1 / (x + 1.0), rtol=1e-6)


def test_pow_of_two_is_the_correctly_rounded_square_and_other_exponents_stay_pow():
    """``x ** 2`` equals x² computed exactly in float64 and rounded once; ``x ** 3`` and an
    exponent per element are still powers (numpy float64 references)."""

    @mb.program(input_specs=[spec(4096)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.pow(x=x, y=2.0), mb.pow(x=x, y=3.0),
                mb.pow(x=x, y=np.full(4096, 2.0, np.float32)))

    x = (np.random.default_rng(0).standard_normal(4096) * 100).astype(np.float32)
    square, cube, per_element = run(prog, {"x": x})
    exact = (x.astype(np.float64) ** 2).astype(np.float32)
    np.testing.assert_array_equal(square, exact)
    np.testing.assert_allclose(cube, x.astype(np.float64) ** 3, rtol=1e-6)
    np.testing.assert_allclose(per_element, exact, rtol=1e-6)
