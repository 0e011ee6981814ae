"""Classifier outputs made comparable: probability dictionaries and predicted labels."""

import numpy as np

from pytest_coremlcheck.compare.classifier import label_result, probability_vector
from pytest_coremlcheck.compare.tolerance import Tolerance

LABELS = ["cat", "dog", "fox"]


def test_probability_dictionaries_follow_the_class_label_order():
    shuffled = {"fox": 0.5, "cat": 0.2, "dog": 0.3}
    np.testing.assert_array_equal(probability_vector(shuffled, LABELS), [0.2, 0.3, 0.5])
    np.testing.assert_array_equal(probability_vector({1: 0.4, 0: 0.6}, [0, 1]), [0.6, 0.4])
    assert np.isnan(probability_vector({"cat": 1.0}, LABELS)[1])  # a missing class


def test_predicted_labels_are_checked_against_the_source_argmax():
    sources = [np.array([[0.1, 0.7, 0.2]]), np.array([[0.6, 0.3, 0.1]])]
    ok = label_result("classLabel", ["dog", "cat"], sources, LABELS, Tolerance())
    assert ok.passed and ok.metrics.top1 == 1.0 and ok.tightest == {"min_top1": 1.0}
    bad = label_result("classLabel", ["dog", "fox"], sources, LABELS, Tolerance())
    assert bad.failures == [
        "classLabel: predicted label differs from the source's top class on 1 of 2 sample(s) "
        "(first: sample 1, 'fox' vs 'cat'); agreement 0.500 < min_top1=1"]
    assert label_result("classLabel", ["dog", "fox"], sources, LABELS,
                        Tolerance(min_top1=0.5)).passed
