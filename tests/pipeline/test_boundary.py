"""Boundary conversion rules, value by value (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_coremlcheck.coreml.features import Feature
from pytest_coremlcheck.reference import boundary
from pytest_coremlcheck.reference.errors import ExecutionError


def array(name="f", dtype=np.float32, shape=(1, 4), **kwargs) -> Feature:
    return Feature(name, "array", shape, np.dtype(dtype), **kwargs)


def image(color="RGB", size=(2, 2)) -> Feature:
    channels = 1 if color.startswith("GRAYSCALE") else 3
    dtype = np.float16 if color == "GRAYSCALE_FLOAT16" else np.float32
    return Feature("im", "image", (1, channels, size[1], size[0]), np.dtype(dtype), color=color)


def test_fp32_output_declared_fp16_is_rounded():
    value = np.array([[1.0001, 2.0, 3.0, 70000.0]], np.float32)
    out = boundary.materialise(value, array(dtype=np.float16), "w")
    assert out.dtype == np.float16 and out[0, 0] == np.float16(1.0) and np.isinf(out[0, 3])


def test_fp16_into_fp32_is_widened_exactly():
    value = np.array([[0.1, 0.2, 0.3, 0.4]], np.float16)
    out = boundary.convert(value, array(dtype=np.float16), array(), "w")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, value.astype(np.float32))


def test_array_shape_must_fit_the_consumer():
    with pytest.raises(ExecutionError, match=r"w: the value has shape \(1, 5\), the feature "
                                             r"declares \(1, 4\)"):
        boundary.convert(np.zeros((1, 5)), array(shape=(1, 5)), array(), "w")
    flexible = array(shape=(1, 4), ranges=[(1, 1), (1, 8)])
    assert boundary.convert(np.zeros((1, 6)), array(shape=(1, 6)), flexible, "w").shape == (1, 6)


def test_image_output_is_8bit_pixels():
    raw = np.array([[[[-3.0, 10.4], [10.6, 300.0]]] * 3], np.float32).reshape(1, 3, 2, 2)
    out = boundary.materialise(raw, image(), "w")
    np.testing.assert_array_equal(out[0, 0], [[0, 10], [11, 255]])


def test_grayscale_float16_image_keeps_fractions():
    raw = np.full((1, 1, 2, 2), 0.30001, np.float32)
    out = boundary.materialise(raw, image("GRAYSCALE_FLOAT16"), "w")
    assert out[0, 0, 0, 0] == np.float32(np.float16(0.30001))


def test_rgb_to_bgr_swaps_channels_and_colour_to_gray_uses_luma():
    rgb = np.zeros((1, 3, 2, 2), np.float32)
    rgb[0, 0] = 200.0
    bgr = boundary.convert(rgb, image("RGB"), image("BGR"), "w")
    np.testing.assert_array_equal(bgr[0, 2], rgb[0, 0])
    gray = boundary.convert(rgb, image("RGB"), image("GRAYSCALE"), "w")
    assert gray.shape == (1, 1, 2, 2) and gray[0, 0, 0, 0] == 60.0  # 200 * 299/1000, rounded


def test_image_size_must_fit_the_consumer():
    with pytest.raises(ExecutionError, match="the image is 2x2, the feature declares"):
        boundary.convert(np.zeros((1, 3, 2, 2), np.float32), image(), image(size=(4, 4)), "w")


def test_scalars_and_pass_through_values():
    int64 = Feature("n", "int64", (), np.dtype(np.int64))
    double = Feature("d", "double", (), np.dtype(np.float64))
    assert boundary.convert(np.array([3]), int64, double, "w") == 3.0
    label = Feature("label", "string")
    assert boundary.convert("cat", label, label, "w") == "cat"
    probs = Feature("p", "dictionary")
    assert boundary.convert({"cat": 0.5}, probs, probs, "w") == {"cat": 0.5}
    with pytest.raises(ExecutionError, match="cannot pass a string value to a float32 feature"):
        boundary.convert("cat", label, array(), "w")


def test_mismatch_mirrors_core_ml_type_check():
    assert boundary.mismatch(array(), array()) is None
    assert boundary.mismatch(array(dtype=np.float16), array()) == "data type float16 vs float32"
    assert boundary.mismatch(array(shape=(4,)), array()) == "rank 1 vs 2"
    assert boundary.mismatch(image("RGB"), image("BGR")) == "colour space RGB vs BGR"
    assert boundary.mismatch(array(), image()) == "float32 vs image RGB"
