"""Tolerance layering, parsing, defaults and verdicts."""

import re

import numpy as np
import pytest

from pytest_coremlcheck import Tolerance
from pytest_coremlcheck.compare import metrics
from pytest_coremlcheck.compare.tolerance import (
    ToleranceError,
    default_for_precision,
    split_tolerance,
    with_default,
)
from pytest_coremlcheck.compare.verdict import tightest_passing, violations


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


@pytest.mark.parametrize("fields, message", [
    ({"min_snr_db": float("nan")}, "min_snr_db must be a finite number, got nan"),
    ({"atol": float("inf")}, "atol must be a finite number, got inf"),
    ({"min_cosine": "0.9"}, "min_cosine must be a number, got '0.9'"),
    ({"min_top1": True}, "min_top1 must be a number, got True"),
    ({"mismatch_ratio": 1.5}, "mismatch_ratio must lie in [0, 1]"),
    ({"allow_source_nan": "yes"}, "allow_source_nan must be true or false"),
    ({"per_output": {"y": 3}}, "per_output[\'y\']: expected a table of tolerance fields"),
])
def test_limits_must_be_finite_numbers_named_with_their_origin(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Tolerance.from_mapping(fields, origin="tolerance")
    if "per_output" not in fields:
        with pytest.raises(ToleranceError, match=re.escape(message)):
            Tolerance(**fields)


def test_parse_rejects_nan_and_reads_allow_source_nan():
    with pytest.raises(ToleranceError, match="^--coreml-tolerance: min_snr_db must be a finite"):
        Tolerance.parse("min_snr_db=nan")
    assert Tolerance.parse("allow_source_nan=true,atol=1").allow_source_nan is True
    assert Tolerance.parse("allow_source_nan=true").describe() == "allow_source_nan"


def test_unknown_keys_of_a_checks_tolerance_dict_are_named():
    with pytest.raises(ToleranceError, match="unknown tolerance field.*min_snr\\b"):
        split_tolerance({"min_snr": 3})
    with pytest.raises(ToleranceError, match="min_snr is neither a tolerance field nor a "
                                             "variant of this check.*variants fp16, int8"):
        split_tolerance({"min_snr": 3, "int8": {"min_cosine": 0.9}}, ["fp16", "int8"])
    shared, per_variant = split_tolerance({"int8": {"min_cosine": 0.9}}, ["fp16", "int8"])
    assert shared is None and per_variant["int8"].min_cosine == 0.9


def test_an_output_never_goes_without_limits():
    default = default_for_precision("fp32")
    only_one = Tolerance(per_output={"a": Tolerance(min_top1=1.0)})
    merged = with_default(only_one, default)
    assert merged.for_output("b").min_snr_db == default.min_snr_db
    assert merged.for_output("a").min_top1 == 1.0
    flag_only = with_default(Tolerance(allow_source_nan=True), default)
    assert flag_only.allow_source_nan and flag_only.min_cosine == default.min_cosine
    assert with_default(Tolerance(atol=0.1), default) == Tolerance(atol=0.1)
