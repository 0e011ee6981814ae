"""Sorting, one-hot, non-zero, cumsum, band_part and non-maximum suppression."""

from __future__ import annotations

import coremltools as ct
import numpy as np
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from .helpers import run, spec


def test_topk_and_argsort_keep_tied_order():
    x = np.array([[3.0, 1.0, 3.0, 2.0, 1.0]], np.float32)

    @mb.program(input_specs=[spec(1, 5)], opset_version=ct.target.iOS17)
    def prog(x):
        values, indices = mb.topk(x=x, k=3)
        low_values, low_indices = mb.topk(x=x, k=2, ascending=True)
        return values, indices, low_values, low_indices, mb.argsort(x=x)

    values, indices, low_values, low_indices, order = run(prog, {"x": x})
    np.testing.assert_array_equal(values, [[3, 3, 2]])
    np.testing.assert_array_equal(indices, [[0, 2, 3]])
    np.testing.assert_array_equal(low_values, [[1, 1]])
    np.testing.assert_array_equal(low_indices, [[1, 4]])
    np.testing.assert_array_equal(order, [[0, 2, 3, 1, 4]])


def test_topk_ios16_values_only():
    x = np.array([[0.5, 2.0, -1.0]], np.float32)

    @mb.program(input_specs=[spec(1, 3)], opset_version=ct.target.iOS16)
    def prog(x):
        return mb.topk(x=x, k=2, return_indices=False)

    np.testing.assert_array_equal(run(prog, {"x": x}, target="iOS16")[0], [[2.0, 0.5]])


def test_one_hot_axis_and_values():
    idx = np.array([[0, 2], [1, 5]], np.int32)

    @mb.program(input_specs=[spec(2, 2, dtype=types.int32)], opset_version=ct.target.iOS17)
    def prog(idx):
        return mb.one_hot(indices=idx, one_hot_vector_size=3, axis=1, on_value=7.0,
                          off_value=-1.0)

    out = run(prog, {"idx": idx})[0]
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out[0], [[7, -1], [-1, -1], [-1, 7]])
    np.testing.assert_array_equal(out[1], [[-1, -1], [7, -1], [-1, -1]])  # 5 is out of range


def test_non_zero_cumsum_band_part():
    x = np.array([[0, 1.5, 0], [2, 0, -3]], np.float32)

    @mb.program(input_specs=[spec(2, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.non_zero(x=x), mb.cumsum(x=x, axis=1),
                mb.cumsum(x=x, axis=0, exclusive=True), mb.band_part(x=x, lower=1, upper=0))

    nz, inclusive, exclusive, band = run(prog, {"x": x})
    np.testing.assert_array_equal(nz, [[0, 1], [1, 0], [1, 2]])
    np.testing.assert_array_equal(inclusive, [[0, 1.5, 1.5], [2, 2, -1]])
    np.testing.assert_array_equal(exclusive, [[0, 0, 0], [0, 1.5, 0]])
    np.testing.assert_array_equal(band, [[0, 0, 0], [2, 0, 0]])


def test_non_maximum_suppression_ios15():
    """The example of coremltools' own NMS test: per-class suppression, score threshold."""
    boxes = np.array([[[0.0] * 4, [1.0] * 4, [2.0] * 4, [3.0] * 4]], np.float32)
    scores = np.array([[[-3.5], [9.4], [2.3], [0.7]]], np.float32)

    @mb.program(input_specs=[spec(1, 4, 4), spec(1, 4, 1)], opset_version=ct.target.iOS15)
    def prog(boxes, scores):
        return mb.non_maximum_suppression(boxes=boxes, scores=scores, iou_threshold=0.2,
                                          score_threshold=0.4, max_boxes=2,
                                          per_class_suppression=True)

    out_boxes, out_scores, indices, counts = run(prog, {"boxes": boxes, "scores": scores},
                                                 target="iOS15")
    np.testing.assert_array_equal(out_boxes, [[[1.0] * 4, [2.0] * 4]])
    np.testing.assert_allclose(out_scores, [[[9.4], [2.3]]], rtol=1e-6)
    np.testing.assert_array_equal(indices, [[1, 2]])
    np.testing.assert_array_equal(counts, [2])


def test_non_maximum_suppression_ios17_pads_with_minus_one():
    # (cx, cy, w, h) on the last axis; boxes 0 and 1 overlap with IoU 0.6, box 2 is apart
    boxes = np.array([[[0.0, 0.5, 10.0], [0.0, 0.0, 0.0], [2.0, 2.0, 1.0], [2.0, 2.0, 1.0]]],
                     np.float32)
    scores = np.array([[[0.9, 0.8, 0.1]]], np.float32)

    @mb.program(input_specs=[spec(1, 4, 3), spec(1, 1, 3)], opset_version=ct.target.iOS17)
    def prog(boxes, scores):
        return mb.non_maximum_suppression(boxes=boxes, scores=scores, iou_threshold=0.5,
                                          max_boxes=3)

    out_boxes, out_scores, indices = run(prog, {"boxes": boxes, "scores": scores})
    np.testing.assert_array_equal(indices, [[0, 2, -1]])
    np.testing.assert_allclose(out_scores, [[[0.9, 0.1, 0.0]]], rtol=1e-6)
    np.testing.assert_array_equal(out_boxes[0, :, 0], boxes[0, :, 0])
    np.testing.assert_array_equal(out_boxes[0, :, 1], boxes[0, :, 2])
    np.testing.assert_array_equal(out_boxes[0, :, 2], 0.0)
