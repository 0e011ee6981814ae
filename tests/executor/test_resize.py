"""Resizing: sampling-mode grids, upsample alignments, nearest, crop_resize, resample."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb

from .helpers import run, spec

# the op documentation's grid points for Xin = 2 (values [0, 1] sample the grid itself)
GRIDS = {
    ("UNALIGN_CORNERS", 5): [0.0, 0.1, 0.5, 0.9, 1.0],
    ("STRICT_ALIGN_CORNERS", 5): [0.0, 0.25, 0.5, 0.75, 1.0],
    ("ALIGN_CORNERS", 5): [0.0, 0.25, 0.5, 0.75, 1.0],
    ("DEFAULT", 5): [0.0, 0.4, 0.8, 1.0, 1.0],
    ("OFFSET_CORNERS", 5): [0.1, 0.3, 0.5, 0.7, 0.9],
    ("UNALIGN_CORNERS", 6): [0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0],
    ("DEFAULT", 6): [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0],
    ("OFFSET_CORNERS", 6): [1 / 12, 0.25, 5 / 12, 7 / 12, 0.75, 11 / 12],
}


@pytest.mark.parametrize("mode, n_out", sorted(GRIDS))
def test_resize_bilinear_sampling_modes(mode, n_out):
    @mb.program(input_specs=[spec(1, 1, 1, 2)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.resize_bilinear(x=x, target_size_height=1, target_size_width=n_out,
                                  sampling_mode=mode)

    out = run(prog, {"x": np.array([[[[0.0, 1.0]]]], np.float32)})[0]
    np.testing.assert_allclose(out.reshape(-1), GRIDS[(mode, n_out)], atol=1e-6)


@pytest.mark.parametrize("align_corners", [True, False])
def test_upsample_bilinear_matches_torch(rng, align_corners):
    x = rng.normal(size=(1, 2, 3, 5)).astype(np.float32)

    @mb.program(input_specs=[spec(1, 2, 3, 5)], opset_version=ct.target.iOS16)
    def prog(x):
        return mb.upsample_bilinear(x=x, scale_factor_height=2, scale_factor_width=3,
                                    align_corners=align_corners)

    out = run(prog, {"x": x}, target="iOS16")[0]
    expect = torch.nn.functional.interpolate(torch.from_numpy(x), size=(6, 15), mode="bilinear",
                                             align_corners=align_corners)
    np.testing.assert_allclose(out, expect.numpy(), rtol=1e-5, atol=1e-6)


def test_upsample_bilinear_ios16_legacy_grid():
    """align_corners = half_pixel_centers = False samples at i·Xin/Xout (TensorFlow legacy)."""
    @mb.program(input_specs=[spec(1, 1, 1, 2)], opset_version=ct.target.iOS16)
    def prog(x):
        return mb.upsample_bilinear(x=x, scale_factor_height=1, scale_factor_width=2,
                                    align_corners=False, half_pixel_centers=False)

    out = run(prog, {"x": np.array([[[[0.0, 1.0]]]], np.float32)}, target="iOS16")[0]
    np.testing.assert_allclose(out.reshape(-1), [0.0, 0.5, 1.0, 1.0])


def test_nearest_neighbour_variants():
    x = np.array([1.5, -2.5, 3.5], np.float32).reshape(1, 1, 1, 3)

    @mb.program(input_specs=[spec(1, 1, 1, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.upsample_nearest_neighbor(x=x, scale_factor_height=1.0,
                                             scale_factor_width=0.67),
                mb.resize_nearest_neighbor(x=x, target_size_height=1, target_size_width=2),
                mb.resize(x=x, shape=[1, 5], resized_dims=np.uint32(2),
                          interpolation_mode="NEAREST_NEIGHBOR"))

    up, nearest, resized = run(prog, {"x": x})
    np.testing.assert_array_equal(up.reshape(-1), [1.5, -2.5])  # floor(i · 3/2)
    np.testing.assert_array_equal(nearest.reshape(-1), [1.5, 3.5])  # floor((i + ½) · 3/2)
    np.testing.assert_array_equal(resized.reshape(-1), [1.5, 1.5, -2.5, 3.5, 3.5])


def test_crop_resize_align_corners():
    """coremltools' own example: a 2x2 crop of a 4x4 image, and one centre sample."""
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    roi = np.array([1, 1, 2, 2], np.float32).reshape(1, 1, 4, 1, 1)

    @mb.program(input_specs=[spec(1, 1, 4, 4)], opset_version=ct.target.iOS16)
    def prog(x):
        return (mb.crop_resize(x=x, roi=roi, target_height=2, target_width=2,
                               sampling_mode="ALIGN_CORNERS"),
                mb.crop_resize(x=x, roi=roi, target_height=1, target_width=1,
                               sampling_mode="ALIGN_CORNERS"))

    two, one = run(prog, {"x": x}, target="iOS16")
    np.testing.assert_array_equal(two.reshape(-1), [6, 7, 10, 11])
    np.testing.assert_array_equal(one.reshape(-1), [8.5])


@pytest.mark.parametrize("padding_mode, torch_mode", [("border", "border"),
                                                      ("constant", "zeros")])
def test_resample_matches_grid_sample(rng, padding_mode, torch_mode):
    x = rng.normal(size=(1, 2, 4, 5)).astype(np.float32)
    grid = rng.uniform(-1.3, 1.3, size=(1, 3, 6, 2)).astype(np.float32)

    @mb.program(input_specs=[spec(1, 2, 4, 5), spec(1, 3, 6, 2)], opset_version=ct.target.iOS17)
    def prog(x, grid):
        return mb.resample(x=x, coordinates=grid, sampling_mode="bilinear",
                           padding_mode=padding_mode, padding_value=0.0,
                           coordinates_mode="normalized_minus_one_to_one", align_corners=False)

    out = run(prog, {"x": x, "grid": grid})[0]
    expect = torch.nn.functional.grid_sample(torch.from_numpy(x), torch.from_numpy(grid),
                                             mode="bilinear", padding_mode=torch_mode,
                                             align_corners=False)
    np.testing.assert_allclose(out, expect.numpy(), rtol=1e-5, atol=1e-5)
