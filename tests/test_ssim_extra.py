"""SSIM comes from the ``ssim`` extra (scikit-image): without it the metric is None, and a
tolerance that asks for it fails naming the extra instead of passing."""

from __future__ import annotations

import sys

import numpy as np

from pytest_coremlcheck.compare import metrics
from pytest_coremlcheck.compare.tolerance import Tolerance
from pytest_coremlcheck.compare.verdict import violations


def _image_pair():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (1, 3, 16, 16)).astype(np.float64)
    return [(source + 1.0, source)]


def test_ssim_is_measured_with_the_extra():
    m = metrics.compute(_image_pair(), image=True)
    assert m.ssim is not None and 0.9 < m.ssim < 1.0


def test_without_the_extra_ssim_is_none_and_min_ssim_fails_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.metrics", None)  # import raises ImportError
    m = metrics.compute(_image_pair(), image=True)
    assert m.ssim is None
    [reason] = violations("styled", m, Tolerance(min_ssim=0.9))
    assert "pip install 'pytest-coremlcheck[ssim]'" in reason
    assert violations("styled", m, Tolerance(min_snr_db=10)) == []
