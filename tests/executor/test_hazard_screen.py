"""The hazard screen checks run, and the full watch a failing check re-runs.

Expectations come from float16's definition (65504, 2**-14) and numpy, not from the executor.
"""

import coremltools as ct
import numpy as np
import pytest
import torch

from pytest_coremlcheck import EquivalenceError, Tolerance, assert_equivalent
from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.runtimes.reference import ReferenceRuntime

RUN = dict(backend="reference", fp16_mode="typed")


class OverflowAndUnderflow(torch.nn.Module):
    """x·1e5 overflows fp16 for x > 0.655 (the output goes Inf); x·1e-6 underflows.

    coremltools keeps ``x·1e5`` in fp32 (1e5 is no fp16 constant) and casts it to fp16: that
    cast is the first op whose fp16 value overflows."""

    def forward(self, x):
        return torch.relu(x * 1e5 + 1e4) / 1e5 + x * 1e-6


class UnderflowOnly(torch.nn.Module):
    """x + x·1e-6: x·1e-6 is below fp16's smallest normal, the output stays ≈ x (passes)."""

    def forward(self, x):
        return x + x * 1e-6


def _convert(module) -> ct.models.MLModel:
    traced = torch.jit.trace(module.eval(), torch.rand(1, 8))
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 8))],
                      convert_to="mlprogram", compute_precision=ct.precision.FLOAT16,
                      minimum_deployment_target=ct.target.iOS16)


@pytest.fixture(scope="module")
def models():
    return {"fail": _convert(OverflowAndUnderflow()), "pass": _convert(UnderflowOnly())}


def _feeds(low: float, high: float) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"x": rng.uniform(low, high, (1, 8)).astype(np.float32)} for _ in range(2)]


def _kinds(hazards) -> dict:
    return {h["kind"]: h for h in hazards}


def test_failing_check_names_the_first_overflowing_op_and_underflow(models):
    feeds = _feeds(0.7, 1.0)
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(OverflowAndUnderflow(), models["fail"], feeds,
                          tolerance=Tolerance(min_cosine=0.9), **RUN)
    result = info.value.result
    kinds = _kinds(result.hazards)
    overflow = kinds["fp16_overflow"]
    assert overflow["op_type"] == "cast" and overflow["op"]
    x16 = np.stack([f["x"] for f in feeds]).astype(np.float16).astype(np.float32)
    peak = float((x16[0] * np.float32(1e5)).max())  # the first sample overflows already
    assert overflow["detail"] == f"max |x| = {peak:.4g}"
    assert "fp16_underflow" in kinds  # only the full re-run looks for underflow
    assert "first fp16 overflow (|x| > 65504): op" in str(info.value)
    assert "first fp16 underflow (0 < |x| < 6.1e-5)" in str(info.value)
    assert result.hazard_probe is None  # used up
    assert [h["kind"] for h in result.to_dict()["hazards"]] == [h["kind"] for h in
                                                               result.hazards]


def test_passing_check_does_not_run_the_full_watch(models):
    result = assert_equivalent(UnderflowOnly(), models["pass"], _feeds(0.5, 1.0), **RUN)
    assert result.passed
    assert result.hazard_probe is not None  # never called: no re-run
    assert "fp16_underflow" not in _kinds(result.hazards)  # the screen has no underflow kind


def test_a_gate_failure_attaches_the_full_hazards(models):
    """A check failed afterwards (baseline, golden) gets the full watch's hazards too."""
    result = assert_equivalent(UnderflowOnly(), models["pass"], _feeds(0.5, 1.0), **RUN)
    result.extra_failures.append("baseline: regressed")
    result.attach_full_hazards()
    underflow = _kinds(result.hazards)["fp16_underflow"]
    assert underflow["op_type"] == "mul"
    assert "first fp16 underflow (0 < |x| < 6.1e-5): op" in result.failure_table()


def test_screen_finds_what_the_full_watch_finds_without_underflow(models):
    feed = _feeds(0.7, 1.0)[0]
    runtime = ReferenceRuntime(models["fail"])
    runtime.predict(feed)
    watch = runtime.model._watch
    assert watch.screen and watch.inspected > 0
    full = ReferenceModel(models["fail"], watch_hazards=True)
    full.predict(feed)
    screened = _kinds(runtime.hazards())
    expected = {h.kind: h.to_dict() for h in full.hazards if h.kind != "fp16_underflow"}
    assert set(screened) == set(expected) == {"nonfinite", "fp16_overflow"}
    assert screened == expected


def test_screen_stays_quiet_in_range(models):
    """Wrong on purpose: x ≤ 0.5 keeps x·1e5 + 1e4 ≤ 60000 < 65504, nothing to report."""
    runtime = ReferenceRuntime(models["fail"])
    runtime.predict(_feeds(0.0, 0.5)[0])
    assert runtime.hazards() == []
    assert runtime.model._watch.inspected > 0


def test_no_watch_means_no_hazards_even_when_failing(models):
    runtime = ReferenceRuntime(models["fail"], watch_hazards=False)
    runtime.predict(_feeds(0.7, 1.0)[0])
    assert runtime.model._watch is None
    assert runtime.full_hazards(_feeds(0.7, 1.0)) == []


class DoubleThenSelect(torch.nn.Module):
    """x·2, then ops that only select values (relu, reshape, max): the screen looks at x·2."""

    def forward(self, x):
        return torch.relu(x * 2.0).reshape(2, 4).amax(dim=0)


class SelectFirst(torch.nn.Module):
    """relu straight on the input: nothing watched it before, so the screen must."""

    def forward(self, x):
        return torch.relu(x) * 3.0


def _convert_fp32(module, shape=(1, 8)) -> ct.models.MLModel:
    traced = torch.jit.trace(module.eval(), torch.rand(*shape))
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=shape)],
                      convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                      minimum_deployment_target=ct.target.iOS16)


def test_screen_passes_over_ops_that_only_select_watched_values():
    model = _convert_fp32(DoubleThenSelect())
    op_types = [op.op_type for op in model._mil_program.functions["main"].operations]
    assert {"relu", "reshape", "reduce_max"} <= set(op_types)
    feed = {"x": np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 8)}
    screen = ReferenceRuntime(model)
    screen.predict(feed)
    full = ReferenceModel(model, watch_hazards=True)
    full.predict(feed)
    assert screen.model._watch.inspected == 1  # x·2 only
    assert full._watch.inspected == 4  # x·2, relu, reshape, max


def test_screen_inspects_a_selecting_op_that_reads_the_input():
    """Wrong on purpose: a NaN fed to relu is named at relu, the first op that holds it."""
    runtime = ReferenceRuntime(_convert_fp32(SelectFirst()))
    x = np.ones((1, 8), np.float32)
    x[0, 3] = np.nan
    runtime.predict({"x": x})
    nonfinite = _kinds(runtime.hazards())["nonfinite"]
    assert nonfinite["op_type"] == "relu"
    assert nonfinite["detail"] == "1 of 8 values are NaN/Inf"


def test_a_value_rounding_to_65504_is_left_to_the_full_watch():
    """6.551·10000 = 65508 (> 65504) rounds to 65504 in fp16, finite on the device too: the
    screen, which reads the rounded values, lets it pass; the full watch names it. 65520 and
    above round to Inf, and both name it."""
    class Times(torch.nn.Module):
        def forward(self, x):
            return x * 10000.0

    model = _convert(Times())
    x16 = np.float16(6.551)
    product = float(np.float32(x16) * np.float32(10000.0))
    assert 65504 < product < 65520 and np.float16(product) == np.float16(65504)
    feed = {"x": np.full((1, 8), 6.551, np.float32)}
    screen, full = ReferenceRuntime(model), ReferenceModel(model, watch_hazards=True)
    screen.predict(feed)
    full.predict(feed)
    assert "fp16_overflow" not in _kinds(screen.hazards())
    assert [h.kind for h in full.hazards] == ["fp16_overflow"]
    over = float(np.float32(np.float16(6.56)) * np.float32(10000.0))
    assert over >= 65520 and np.isinf(np.float16(over))
    screen.predict({"x": np.full((1, 8), 6.56, np.float32)})
    assert _kinds(screen.hazards())["fp16_overflow"]["detail"] == f"max |x| = {over:.4g}"


def test_consts_decide_whether_a_selecting_op_can_be_passed_over():
    from pytest_coremlcheck.reference.mil.hazards import consts_in_range

    assert consts_in_range([torch.tensor([1.0, -65504.0]), torch.tensor([7]), 3, "x", None])
    assert not consts_in_range([torch.tensor([1e5])])
    assert not consts_in_range([torch.tensor([0.0, float("nan")])])
    assert not consts_in_range([70000.0])
    assert not consts_in_range([float("inf")])
