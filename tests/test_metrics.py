"""Metrics against hand-computed values."""

import math

import numpy as np
import pytest

from pytest_coremlcheck.compare import metrics


def test_hand_computed_values():
    b = np.array([1.0, 2.0, 3.0, 4.0])
    a = np.array([1.0, 2.0, 3.0, 5.0])
    m = metrics.compute([(a, b)], atol=0.5)
    assert m.max_abs == 1.0
    assert m.rmse == pytest.approx(0.5)  # sqrt(1/4)
    assert m.snr_db == pytest.approx(10 * math.log10(30 / 1))  # Σb² = 30, Σ(a-b)² = 1
    assert m.psnr_db == pytest.approx(20 * math.log10(3) - 10 * math.log10(0.25))  # peak 4-1
    assert m.cosine == pytest.approx(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert m.mismatch_ratio == pytest.approx(0.25)
    assert m.top1 == 1.0  # argmax index 3 in both
    assert m.nonfinite == 0 and m.elements == 4 and m.samples == 1


def test_identical_outputs_have_infinite_snr():
    b = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = metrics.compute([(b.copy(), b)])
    assert m.snr_db == math.inf and m.psnr_db == math.inf and m.max_abs == 0.0
    assert m.to_dict()["snr_db"] == "inf"


def test_rtol_and_aggregation_over_samples():
    b1, a1 = np.array([10.0, 10.0]), np.array([10.5, 10.0])
    b2, a2 = np.array([1.0, 1.0]), np.array([1.0, 2.0])
    m = metrics.compute([(a1, b1), (a2, b2)], atol=0.0, rtol=0.1)
    # sample 1: |0.5| <= 0.1*10 ok; sample 2: |1| > 0.1*1 mismatch -> 1 of 4
    assert m.mismatch_ratio == pytest.approx(0.25)
    assert m.max_abs == 1.0
    assert m.cosine == pytest.approx(min(
        np.dot(a1, b1) / (np.linalg.norm(a1) * np.linalg.norm(b1)),
        np.dot(a2, b2) / (np.linalg.norm(a2) * np.linalg.norm(b2))))
    assert m.samples == 2


def test_nan_in_converted_is_counted():
    b = np.array([1.0, 2.0, 3.0])
    a = np.array([1.0, np.nan, np.inf])
    m = metrics.compute([(a, b)])
    assert m.nonfinite == 2
    assert m.elements == 1


def test_matching_non_finite_values_are_ignored():
    b = np.array([1.0, np.inf, np.nan])
    a = np.array([1.0, np.inf, np.nan])
    assert metrics.compute([(a, b)]).nonfinite == 0


def test_image_psnr_uses_peak_255():
    b = np.zeros((1, 3, 2, 2))
    a = b + 1.0
    m = metrics.compute([(a, b)], image=True)
    assert m.psnr_db == pytest.approx(20 * math.log10(255.0))


def test_top1_rows_for_batched_logits():
    b = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    a = np.array([[0.2, 0.8], [0.4, 0.6], [0.1, 0.9]])
    assert metrics.compute([(a, b)]).top1 == pytest.approx(2 / 3)


def test_feature_maps_have_no_top1():
    x = np.ones((1, 3, 4, 4))
    assert metrics.compute([(x, x)]).top1 is None


def test_singleton_axes_may_differ_but_other_shapes_fail():
    b = np.ones((1, 4))
    assert metrics.compute([(np.ones((4,)), b)]).max_abs == 0.0
    with pytest.raises(metrics.ShapeMismatch, match=r"\(2, 2\).*\(1, 4\)"):
        metrics.compute([(np.ones((2, 2)), b)])


def test_snr_of_zero_reference_with_error_is_minus_inf():
    m = metrics.compute([(np.ones(3), np.zeros(3))])
    assert m.snr_db == -math.inf
    assert m.cosine == 0.0


def test_error_histogram_counts_abs_error_per_decade_over_samples():
    source = np.zeros(4)
    first = np.array([0.0, 5e-9, 1e-8, 0.5])  # bins [0, 1e-8) twice, [1e-8, 1e-7), [0.1, 1)
    second = np.array([-150.0, np.nan, 2e-3, -2e-3])  # overflow; NaN left out; [1e-3, 1e-2) x2
    m = metrics.compute([(first, source), (second, source)])
    assert metrics.HISTOGRAM_EDGES[0] == 0.0 and metrics.HISTOGRAM_EDGES[-1] == math.inf
    assert m.error_histogram == (2, 1, 0, 0, 0, 0, 2, 0, 1, 0, 0, 1)
    assert sum(m.error_histogram) == m.elements == 7
    assert m.max_abs == 150.0 and m.nonfinite == 1
    hist = m.to_dict()["error_histogram"]
    assert hist["edges"][1:3] == [1e-8, 1e-7] and hist["edges"][-1] == "inf"
    assert len(hist["counts"]) == len(hist["edges"]) - 1
