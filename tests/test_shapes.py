"""Flexible input shapes: which shapes are checked, and an image model across sizes."""

import coremltools as ct
import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck import assert_equivalent, images
from pytest_coremlcheck.coreml.features import Feature
from pytest_coremlcheck.inputs.shapes import candidate_shapes, shape_configs

from .helpers import IMAGES


def test_range_candidates_lower_default_middle_upper():
    f = Feature("x", "array", (1, 3, 64, 64), np.dtype(np.float32),
                ranges=[(1, 1), (3, 3), (32, 128), (32, 128)])
    assert candidate_shapes(f) == [(1, 3, 32, 32), (1, 3, 64, 64), (1, 3, 80, 80),
                                   (1, 3, 128, 128)]
    unbounded = Feature("x", "array", (1, 10), np.dtype(np.float32), ranges=[(1, 1), (2, -1)])
    assert candidate_shapes(unbounded)[-1] == (1, 20)


def test_enumerated_shapes_are_all_checked():
    f = Feature("x", "array", (1, 8), np.dtype(np.float32), shapes=[(1, 8), (1, 16), (1, 32)])
    assert shape_configs([f]) == [{"x": (1, 8)}, {"x": (1, 16)}, {"x": (1, 32)}]
    assert shape_configs([Feature("y", "array", (2,), np.dtype(np.float32))]) == [{}]
    with pytest.raises(ValueError, match="unknown input\\(s\\) z"):
        shape_configs([f], [{"z": (1, 2)}])


class SuperResolution(nn.Module):
    """x2 upscaling with a pixel shuffle; outputs pixels in [0, 255]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(16, 12, 3, padding=1))

    def forward(self, x):
        return torch.sigmoid(nn.functional.pixel_shuffle(self.body(x), 2)) * 255


def test_flexible_image_model_checked_at_each_size(tmp_path):
    size = ct.RangeDim(lower_bound=32, upper_bound=96, default=48)
    convert = dict(inputs=[ct.ImageType(name="image", shape=(1, 3, size, size), scale=1 / 255)],
                   outputs=[ct.ImageType(name="upscaled")],
                   minimum_deployment_target=ct.target.iOS16,
                   compute_precision=ct.precision.FLOAT32)
    results = assert_equivalent(SuperResolution().eval(), None, images(IMAGES), convert=convert,
                                tolerance={"min_psnr_db": 40}, cache_dir=tmp_path)
    shapes = [r.shape for r in results]
    assert shapes == ["image=1x3x32x32", "image=1x3x48x48", "image=1x3x64x64",
                      "image=1x3x96x96"]
    for r in results:  # the image output follows the input size
        side = int(r.shape.split("x")[-1])
        assert r.outputs["upscaled"].shape == (1, 3, 2 * side, 2 * side)
        assert r.outputs["upscaled"].image
