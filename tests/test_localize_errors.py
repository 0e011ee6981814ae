"""The error formulas of ``localize.errors``, on values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_coremlcheck.localize.errors import VarError, _added, snr_db
from pytest_coremlcheck.localize.fixes import Fp32Ops, conversion_name


def _error(a, r) -> VarError:
    stats = VarError()
    stats.add(np.asarray(a, np.float32), np.asarray(r, np.float32))
    return stats


def test_relative_l2_and_snr():
    stats = _error([1.1, 2.0], [1.0, 2.0])  # ‖a − r‖ = 0.1, ‖r‖ = √5
    assert stats.rel == pytest.approx(0.1 / math.sqrt(5), rel=1e-5)
    assert snr_db(stats.rel) == pytest.approx(20 * math.log10(math.sqrt(5) / 0.1), rel=1e-5)
    assert _error([1.0, 2.0], [1.0, 2.0]).rel == 0.0 and snr_db(0.0) == math.inf


def test_nonfinite_where_the_reference_is_finite_is_unbounded():
    stats = _error([1.0, np.inf, np.nan], [1.0, 7e4, np.nan])
    assert stats.rel == math.inf and stats.broken == 1 and stats.nonfinite == 2
    assert stats.peak_ref == pytest.approx(7e4)
    # NaN in both runs is no error of this op (compared positions only)
    assert _error([np.nan, 1.0], [np.nan, 1.0]).rel == 0.0


def test_subnormal_count():
    assert _error([1e-6, 0.0, 1.0], [1e-6, 0.0, 1.0]).tiny_ref == 1


@pytest.mark.parametrize("out, inp, overflow, added", [
    (0.3, 0.1, False, 0.2),  # amplifies: adds the difference
    (0.1, 0.3, False, 0.0),  # attenuates: adds nothing
    (math.inf, 0.01, False, math.inf),  # the op that breaks
    (math.inf, math.inf, False, 0.0),  # a symptom of an earlier op
    (0.0, math.inf, True, math.inf),  # cannot compute in fp16 at all
])
def test_error_added(out, inp, overflow, added):
    assert _added(out, inp, overflow) == pytest.approx(added)


def test_selector_names_and_matching():
    assert conversion_name("op_13_cast_fp16") == "13"
    assert conversion_name("input_3_cast_fp16") == "input_3"
    assert conversion_name("linear_0") == "linear_0"
    selector = Fp32Ops([("pow", "13"), ("add", "input_3")])

    class Op:  # the two attributes FP16ComputePrecision's selector reads
        def __init__(self, op_type, name):
            self.op_type, self.name = op_type, name

    assert not selector(Op("pow", "13")) and not selector(Op("add", "input.3"))
    assert selector(Op("pow", "14")) and selector(Op("mul", "13"))  # wrong op type
    assert "import" not in selector.code() and "('add', 'input_3')" in selector.code()
