"""Shape and data-movement ops against numpy."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb

from .helpers import run, spec


@pytest.mark.parametrize("begin, end, stride, begin_mask, end_mask, squeeze_mask, index", [
    ([0, 4, 1], [2, 0, 5], [1, -1, 2], [0, 0, 0], [0, 0, 0], [0, 0, 0],
     np.s_[0:2, 4:0:-1, 1:5:2]),
    ([0, -1, 0], [2, 0, 6], [1, -2, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0],
     np.s_[:2, -1::-2, 0:6]),
    ([1, 2, -3], [2, 5, -1], [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 0, 0],
     np.s_[1, 2:5, -3:-1]),
    ([0, 0, 0], [0, 0, 0], [1, 1, -1], [1, 1, 1], [1, 1, 1], [0, 0, 0],
     np.s_[:, :, ::-1]),
    ([0, 0, 5], [0, 0, 0], [1, 1, 1], [1, 1, 0], [1, 1, 0], [0, 0, 1], np.s_[:, :, 5]),
])
def test_slice_by_index(rng, begin, end, stride, begin_mask, end_mask, squeeze_mask, index):
    x = rng.normal(size=(3, 5, 6)).astype(np.float32)

    @mb.program(input_specs=[spec(3, 5, 6)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.slice_by_index(x=x, begin=begin, end=end, stride=stride,
                                 begin_mask=[bool(v) for v in begin_mask],
                                 end_mask=[bool(v) for v in end_mask],
                                 squeeze_mask=[bool(v) for v in squeeze_mask])

    np.testing.assert_array_equal(run(prog, {"x": x})[0], x[index])


def test_slice_update(rng):
    x = rng.normal(size=(4, 6)).astype(np.float32)
    update = rng.normal(size=(2, 3)).astype(np.float32)

    @mb.program(input_specs=[spec(4, 6), spec(2, 3)], opset_version=ct.target.iOS18)
    def prog(x, update):
        return mb.slice_update(x=x, update=update, begin=[3, 0], end=[0, 6], stride=[-2, 2])

    expect = x.copy()
    expect[3:0:-2, 0:6:2] = update
    np.testing.assert_array_equal(run(prog, {"x": x, "update": update}, target="iOS18")[0],
                                  expect)


def test_reshape_zero_semantics_by_opset():
    x = np.arange(100, dtype=np.float32).reshape(2, 50)

    @mb.program(input_specs=[spec(2, 50)], opset_version=ct.target.iOS17)
    def ios17(x):
        return mb.reshape(x=x, shape=[1, 0, -1, 0])  # zeros match x's dims from the right

    @mb.program(input_specs=[spec(2, 50)], opset_version=ct.target.iOS15)
    def ios15(x):
        return mb.reshape(x=x, shape=[0, -1])  # zero copies x.shape[0] when ranks agree

    assert run(ios17, {"x": x})[0].shape == (1, 1, 2, 50)
    assert run(ios15, {"x": x}, target="iOS15")[0].shape == (2, 50)


def test_depth_and_space_rearrangements(rng):
    x = rng.normal(size=(1, 8, 2, 3)).astype(np.float32)
    b = 2

    @mb.program(input_specs=[spec(1, 8, 2, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        d2s = mb.depth_to_space(x=x, block_size=b)
        return d2s, mb.space_to_depth(x=d2s, block_size=b), mb.pixel_shuffle(x=x,
                                                                           upscale_factor=b)

    d2s, back, shuffle = run(prog, {"x": x})
    # TensorFlow order: out[c, h*b + i, w*b + j] = x[(i*b + j)*C' + c, h, w]
    expect = np.empty((1, 2, 4, 6), np.float32)
    for c in range(2):
        for i in range(b):
            for j in range(b):
                expect[0, c, i::b, j::b] = x[0, (i * b + j) * 2 + c]
    np.testing.assert_array_equal(d2s, expect)
    np.testing.assert_array_equal(back, x)
    # PyTorch order: out[c, h*b + i, w*b + j] = x[c*b*b + i*b + j, h, w]
    assert shuffle[0, 1, 1, 0] == x[0, 1 * 4 + 1 * 2 + 0, 0, 0]


def test_space_to_batch_and_back(rng):
    x = rng.normal(size=(2, 3, 4, 6)).astype(np.float32)

    @mb.program(input_specs=[spec(2, 3, 4, 6)], opset_version=ct.target.iOS17)
    def prog(x):
        s2b = mb.space_to_batch(x=x, block_shape=[2, 3], paddings=[[0, 0], [1, 2]])
        return s2b, mb.batch_to_space(x=s2b, block_shape=[2, 3], crops=[[0, 0], [1, 2]])

    s2b, back = run(prog, {"x": x})
    padded = np.pad(x, [(0, 0), (0, 0), (0, 0), (1, 2)])
    assert s2b.shape == (12, 3, 2, 3)
    # batch index (i*3 + j)*2 + n holds padded[n, :, h*2 + i, w*3 + j]
    np.testing.assert_array_equal(s2b[(1 * 3 + 2) * 2 + 1], padded[1, :, 1::2, 2::3])
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("mode, np_mode", [("reflect", "reflect"), ("replicate", "edge"),
                                           ("constant", "constant")])
def test_pad_modes_on_all_axes(rng, mode, np_mode):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    pads = [1, 1, 2, 0, 0, 3, 2, 2]

    @mb.program(input_specs=[spec(2, 3, 4, 5)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.pad(x=x, pad=np.array(pads, np.int32), mode=mode)

    expect = np.pad(x, np.array(pads).reshape(4, 2), mode=np_mode)
    np.testing.assert_array_equal(run(prog, {"x": x})[0], expect)


def test_reverse_and_reverse_sequence():
    x = np.arange(24, dtype=np.float32).reshape(3, 4, 2)

    @mb.program(input_specs=[spec(3, 4, 2)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.reverse(x=x, axes=[0, -1]),
                mb.reverse_sequence(x=x, lengths=np.array([2, 0, 4], np.int32), seq_axis=1,
                                    batch_axis=0))

    reverse, sequence = run(prog, {"x": x})
    np.testing.assert_array_equal(reverse, x[::-1, :, ::-1])
    expect = x.copy()
    expect[0, :2] = x[0, 1::-1]
    expect[2, :4] = x[2, ::-1]
    np.testing.assert_array_equal(sequence, expect)


def test_sliding_windows():
    x = np.arange(20, dtype=np.float32).reshape(2, 10)

    @mb.program(input_specs=[spec(2, 10)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.sliding_windows(x=x, axis=1, size=4, stride=3)

    out = run(prog, {"x": x})[0]
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out[1, 2], x[1, 6:10])


def test_concat_interleave_split_stack(rng):
    a = rng.normal(size=(2, 3)).astype(np.float32)
    b = rng.normal(size=(2, 3)).astype(np.float32)

    @mb.program(input_specs=[spec(2, 3), spec(2, 3)], opset_version=ct.target.iOS17)
    def prog(a, b):
        inter = mb.concat(values=[a, b], axis=1, interleave=True)
        parts = mb.split(x=inter, split_sizes=[1, 5], axis=-1)
        return (inter, parts[1], mb.stack(values=[a, b], axis=-1),
                mb.tile(x=a, reps=[2, 1]))

    inter, part, stacked, tiled = run(prog, {"a": a, "b": b})
    expect = np.stack([a, b], axis=2).reshape(2, 6)
    np.testing.assert_array_equal(inter, expect)
    np.testing.assert_array_equal(part, expect[:, 1:])
    np.testing.assert_array_equal(stacked, np.stack([a, b], -1))
    np.testing.assert_array_equal(tiled, np.tile(a, (2, 1)))
