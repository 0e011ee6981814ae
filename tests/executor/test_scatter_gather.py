"""Gather / scatter ops against numpy loops."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from .helpers import run, spec

I32 = types.int32


def test_gather_negative_indices_and_batch_dims(rng):
    x = rng.normal(size=(2, 3, 5, 4)).astype(np.float32)
    idx = np.array([[4, -1, 0], [2, 2, -5]], np.int32)  # per batch entry

    @mb.program(input_specs=[spec(2, 3, 5, 4), spec(2, 3, dtype=I32)],
                opset_version=ct.target.iOS17)
    def prog(x, idx):
        return (mb.gather(x=x, indices=idx, axis=2, batch_dims=1),
                mb.gather(x=x, indices=idx, axis=-2))

    batched, plain = run(prog, {"x": x, "idx": idx})
    expect = np.stack([np.take(x[b], idx[b], axis=1) for b in range(2)])
    np.testing.assert_array_equal(batched, expect)
    np.testing.assert_array_equal(plain, np.take(x, idx, axis=2))


def test_gather_nd_with_batch_dims(rng):
    x = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)
    # non-negative: the converter rewrites negative gather_nd indices without batch_dims
    idx = np.array([[[0, 1], [3, 2]], [[2, 2], [1, 0]]], np.int32)  # [2, 2, K=2]

    @mb.program(input_specs=[spec(2, 4, 3, 5), spec(2, 2, 2, dtype=I32)],
                opset_version=ct.target.iOS17)
    def prog(x, idx):
        return mb.gather_nd(x=x, indices=idx, batch_dims=1)

    out = run(prog, {"x": x, "idx": idx})[0]
    expect = np.stack([np.stack([x[b][tuple(i)] for i in idx[b]]) for b in range(2)])
    np.testing.assert_array_equal(out, expect)


def test_gather_along_axis(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    idx = np.array([[0, -1], [2, 1], [3, 3]], np.int32)

    @mb.program(input_specs=[spec(3, 4), spec(3, 2, dtype=I32)], opset_version=ct.target.iOS17)
    def prog(x, idx):
        return mb.gather_along_axis(x=x, indices=idx, axis=1)

    np.testing.assert_array_equal(run(prog, {"x": x, "idx": idx})[0],
                                  np.take_along_axis(x, idx % 4, axis=1))


def _combine(mode):
    return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
            "max": np.maximum, "min": np.minimum}[mode]


@pytest.mark.parametrize("mode", ["update", "add", "sub", "mul", "div", "max", "min"])
def test_scatter_modes_with_repeated_indices(rng, mode):
    data = rng.uniform(1, 2, size=(5, 3)).astype(np.float32)
    updates = rng.uniform(1, 2, size=(4, 3)).astype(np.float32)
    indices = np.array([1, 3, 1, -1], np.int32)
    if mode == "update":
        indices = np.array([1, 3, 0, -1], np.int32)

    @mb.program(input_specs=[spec(5, 3), spec(4, 3)], opset_version=ct.target.iOS16)
    def prog(data, updates):  # iOS16: negative indices count from the end
        return mb.scatter(data=data, indices=indices, updates=updates, axis=0, mode=mode)

    expect = data.copy()
    for k, i in enumerate(indices):
        expect[i] = updates[k] if mode == "update" else _combine(mode)(expect[i], updates[k])
    out = run(prog, {"data": data, "updates": updates}, target="iOS16")[0]
    np.testing.assert_allclose(out, expect, rtol=1e-6)


def test_scatter_along_axis_and_scatter_nd(rng):
    data = np.zeros((3, 4), np.float32)
    idx = np.array([[0, 0], [3, 1], [2, 2]], np.int32)
    upd = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
    nd_idx = np.array([[0, 1], [2, 3], [0, 1]], np.int32)
    nd_upd = np.array([10, 20, 30], np.float32)

    @mb.program(input_specs=[spec(3, 4)], opset_version=ct.target.iOS17)
    def prog(data):
        return (mb.scatter_along_axis(data=data, indices=idx, updates=upd, axis=1, mode="add"),
                mb.scatter_nd(data=data, indices=nd_idx, updates=nd_upd, mode="add"))

    along, nd = run(prog, {"data": data})
    np.testing.assert_array_equal(along, [[3, 0, 0, 0], [0, 4, 0, 3], [0, 0, 11, 0]])
    np.testing.assert_array_equal(nd, [[0, 40, 0, 0], [0, 0, 0, 0], [0, 0, 0, 20]])


def test_ios17_scatter_indices_validation():
    """iOS17 takes non-negative indices: invalid ones raise with ``validate_indices`` and are
    ignored without it."""
    from pytest_coremlcheck.reference import ReferenceModel

    from .helpers import convert

    data = np.zeros((2, 3), np.float32)
    updates = np.ones((2, 3), np.float32)

    def model(validate):
        @mb.program(input_specs=[spec(2, 3), spec(2, 3), spec(2, dtype=I32)],
                    opset_version=ct.target.iOS17)
        def prog(data, updates, idx):
            return mb.scatter(data=data, indices=idx, updates=updates, mode="add",
                              validate_indices=validate)

        return ReferenceModel(convert(prog))

    feeds = {"data": data, "updates": updates, "idx": np.array([-1, 0], np.int32)}
    out = next(iter(model(False).predict(feeds).values()))
    np.testing.assert_array_equal(out, [[1, 1, 1], [0, 0, 0]])  # the -1 update is dropped
    with pytest.raises(Exception, match="out of bounds"):
        model(True).predict(feeds)
