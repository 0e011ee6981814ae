"""Margins to the tolerance, and which image outputs keep pictures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from pytest_coremlcheck.report.margins import margins
from pytest_coremlcheck.report.pictures import image_writer


def _rows(output):
    return {row["field"]: row for row in margins(output)}


def test_minimum_fields_margin_is_measured_minus_limit():
    rows = _rows({"snr_db": 42.1, "cosine": 0.998, "top1": None, "psnr_db": "inf",
                  "tolerance": {"min_snr_db": 30.0, "min_cosine": 0.999, "min_top1": 0.9,
                                "min_psnr_db": 40.0}})
    assert rows["min_snr_db"]["margin"] == pytest.approx(12.1)
    assert rows["min_snr_db"]["unit"] == " dB" and rows["min_snr_db"]["ok"] is True
    assert rows["min_cosine"]["margin"] == pytest.approx(-0.001)
    assert rows["min_cosine"]["ok"] is False
    assert rows["min_top1"]["value"] is None and rows["min_top1"]["ok"] is None
    assert rows["min_psnr_db"]["margin"] == math.inf


def test_atol_margin_is_limit_minus_max_abs_and_decides_only_alone():
    alone = _rows({"max_abs": 0.004, "mismatch_ratio": 0.0,
                   "tolerance": {"atol": 0.01, "mismatch_ratio": 0.0}})
    assert alone["atol"]["margin"] == pytest.approx(0.006) and alone["atol"]["ok"] is True
    assert alone["mismatch_ratio"]["margin"] == 0.0 and alone["mismatch_ratio"]["ok"] is True
    with_rtol = _rows({"max_abs": 0.02, "mismatch_ratio": 0.0,
                       "tolerance": {"atol": 0.01, "rtol": 0.1, "mismatch_ratio": 0.0}})
    assert with_rtol["atol"]["margin"] == pytest.approx(-0.01)
    assert with_rtol["atol"]["ok"] is None  # checked through mismatch_ratio with rtol
    assert with_rtol["rtol"]["margin"] is None
    assert "per_output" not in _rows({"tolerance": {"per_output": {"y": {}}}})


@pytest.mark.parametrize("passing, kept", [(False, 0), (True, 3)])
def test_passing_image_outputs_keep_pictures_only_when_asked(tmp_path, passing, kept):
    image = np.random.default_rng(0).integers(0, 255, (1, 3, 8, 8)).astype(np.float64)
    write = image_writer(tmp_path, "check", passing=passing)
    assert len(write("styled", [(image, image)], True)) == kept
    assert len(write("styled", [(image, image + 1)], False)) == 3  # failing: always kept


def test_same_check_name_in_two_tests_keeps_both_pictures(tmp_path):
    rng = np.random.default_rng(1)
    first, second = (rng.integers(0, 255, (1, 3, 8, 8)).astype(np.float64) for _ in range(2))
    paths_a = image_writer(tmp_path, "test_style")("styled", [(first, first)], False)
    paths_b = image_writer(tmp_path, "test_style")("styled", [(second, second)], False)
    assert set(paths_a).isdisjoint(paths_b)
    for paths, image in ((paths_a, first), (paths_b, second)):
        with Image.open(paths[0]) as source:
            assert np.array_equal(np.asarray(source).transpose(2, 0, 1), image[0])
