"""Tolerance layering, parsing, defaults and verdicts."""

import numpy as np
import pytest

from pytest_coremlcheck import Tolerance, metrics
from pytest_coremlcheck.compare import tightest_passing, violations
from pytest_coremlcheck.tolerance import default_for_precision


def test_only_set_fields_are_checked():
    assert Tolerance().is_empty()
    assert Tolerance(min_cosine=0.9).to_dict() == {"min_cosine": 0.9}
    assert Tolerance(atol=1e-3).to_dict() == {"atol": 1e-3, "mismatch_ratio": 0.0}


def test_layering_is_field_by_field_later_wins():
    ini = Tolerance(min_snr_db=40, min_cosine=0.99)
    marker = Tolerance(min_snr_db=50, atol=0.1, mismatch_ratio=0.01)
    keyword = Tolerance(atol=0.2)
    merged = Tolerance.layered(ini, marker, keyword)
    assert merged.min_snr_db == 50 and merged.min_cosine == 0.99
    assert merged.atol == 0.2 and merged.mismatch_ratio == 0.01


def test_per_output_layers_over_the_whole():
    tol = Tolerance(min_cosine=0.99, per_output={"logits": Tolerance(min_cosine=0.5)})
    assert tol.for_output("logits").min_cosine == 0.5
    assert tol.for_output("other").min_cosine == 0.99
    merged = Tolerance.layered(tol, Tolerance(per_output={"logits": Tolerance(atol=1.0)}))
    assert merged.for_output("logits").atol == 1.0
    assert merged.for_output("logits").min_cosine == 0.5


def test_parse_and_unknown_fields():
    assert Tolerance.parse("min_snr_db=40, min_cosine=0.999") == Tolerance(
        min_snr_db=40, min_cosine=0.999)
    with pytest.raises(ValueError, match="unknown tolerance field.*min_snr\\b"):
        Tolerance.parse("min_snr=40")
    with pytest.raises(ValueError, match="needs a number"):
        Tolerance.parse("atol=small")


def test_precision_defaults_differ():
    assert default_for_precision("fp16").min_snr_db < default_for_precision("fp32").min_snr_db


def test_violations_name_output_metric_and_limit():
    b = np.linspace(-1, 1, 100)
    a = b + 0.1
    m = metrics.compute([(a, b)], atol=0.01)
    found = violations("logits", m, Tolerance(atol=0.01, min_snr_db=40, min_cosine=0.5))
    assert any("logits: 100.00% of elements exceed atol=0.01" in f for f in found)
    assert any(f.startswith("logits: SNR") and "min_snr_db=40" in f for f in found)
    assert not any("cosine" in f for f in found)
    tight = tightest_passing(m)
    assert tight["atol"] == pytest.approx(0.1) and tight["min_snr_db"] == pytest.approx(m.snr_db)


def test_nonfinite_always_fails_even_without_limits():
    m = metrics.compute([(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))])
    assert violations("y", m, Tolerance()) == [
        "y: 1 NaN/Inf value(s) in the converted output where the source output holds a finite "
        "value or another infinity"]


def test_top1_limit_on_non_classifier_output_is_reported():
    x = np.ones((1, 3, 4, 4))
    m = metrics.compute([(x, x)])
    assert "undefined" in violations("fmap", m, Tolerance(min_top1=1.0))[0]
