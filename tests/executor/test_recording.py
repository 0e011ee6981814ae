"""``ReferenceModel.record``: every op output of one prediction, on a real torch conversion.

Expected intermediates are computed in numpy from the torch weights, never by the executor's
own op implementations."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck.reference import InputError, ReferenceModel


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return torch.relu(self.lin(x)).pow(2).mean(-1, keepdim=True) + x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x) * 2.0


def _convert(model, precision):
    traced = torch.jit.trace(model, torch.rand(1, 8))
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 8))],
                      outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                      compute_precision=precision, minimum_deployment_target=ct.target.iOS16,
                      skip_model_load=True)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return Net().eval()


@pytest.fixture(scope="module")
def fp32_model(net):
    return _convert(net, ct.precision.FLOAT32)


@pytest.fixture(scope="module")
def fp16_model(net):
    return _convert(net, ct.precision.FLOAT16)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).uniform(-1, 1, (1, 8)).astype(np.float32)


def _expected(net, x, fp16_weights=False):
    """relu(x Wᵀ + b), its square's mean over the last axis, and the output, in float64
    (``fp16_weights``: W and b stored as fp16, as an fp16 program keeps them)."""
    w = net.block.lin.weight.detach().numpy()
    b = net.block.lin.bias.detach().numpy()
    if fp16_weights:
        w, b = w.astype(np.float16), b.astype(np.float16)
    w, b = w.astype(np.float64), b.astype(np.float64)
    relu = np.maximum(x.astype(np.float64) @ w.T + b, 0.0)
    mean = (relu ** 2).mean(-1, keepdims=True)
    return relu, mean, (mean + x) * 2.0


def test_every_op_output_in_program_order(net, fp32_model, x):
    recording = ReferenceModel(fp32_model).record({"x": x})
    types = [r.op_type for r in recording.ops]
    assert types == [op.op_type for op in fp32_model._mil_program.functions["main"].operations
                     if op.op_type != "const"]
    assert types[:4] == ["linear", "relu", "pow", "reduce_mean"]
    relu, mean, y = _expected(net, x)
    relu_op = recording.ops[1]
    np.testing.assert_allclose(relu_op.values[relu_op.outputs[0]], relu, rtol=1e-5, atol=1e-6)
    mean_op = recording.ops[3]
    assert mean_op.values[mean_op.outputs[0]].dtype == np.float32
    np.testing.assert_allclose(recording.value(mean_op.outputs[0]), mean, rtol=1e-5)
    np.testing.assert_allclose(recording.value(recording.output_names[0]), y, rtol=1e-5)
    # wiring: the pow reads the relu's output; the linear reads the program input
    assert recording.ops[2].input_vars == relu_op.outputs
    assert recording.ops[0].input_vars == ["x"]
    weight = recording.ops[0].constants["weight"]
    assert weight.op_type == "const"
    assert weight.peak == pytest.approx(float(net.block.lin.weight.abs().max()))
    assert recording.producer(relu_op.outputs[0]) is relu_op
    assert recording.producer("x") is None


def test_scopes_from_the_in_memory_conversion(fp32_model, tmp_path, x):
    recording = ReferenceModel(fp32_model).record({"x": x})
    pow_op = next(r for r in recording.ops if r.op_type == "pow")
    assert pow_op.scopes["torchscript_module_type"][:2] == ["Block", "pow"]
    assert pow_op.scopes["torchscript_module_name"][0] == "block"
    assert pow_op.location == "block (Block)"
    # a saved program keeps no scopes: the record says nothing rather than guessing
    path = tmp_path / "net.mlpackage"
    fp32_model.save(str(path))
    saved = ReferenceModel(str(path)).record({"x": x})
    assert [r.name for r in saved.ops] == [r.name for r in recording.ops]
    assert all(r.scopes == {} for r in saved.ops)


def test_fp16_values_are_rounded_and_fp32_mode_is_not(net, fp16_model, x):
    typed = ReferenceModel(fp16_model).record({"x": x})
    ideal = ReferenceModel(fp16_model, fp16_mode="fp32").record({"x": x})
    assert typed.mode == "fp16-typed" and ideal.mode == "fp16 program run in fp32"
    assert [r.name for r in typed.ops] == [r.name for r in ideal.ops]
    relu = next(r for r in typed.ops if r.op_type == "relu")
    value = relu.values[relu.outputs[0]]
    assert relu.fp16 == [True]
    np.testing.assert_array_equal(value, value.astype(np.float16).astype(np.float32))
    ideal_relu = ideal.op(relu.name).values[relu.outputs[0]]
    expected = _expected(net, x.astype(np.float16).astype(np.float32), fp16_weights=True)[0]
    np.testing.assert_allclose(ideal_relu, expected, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(ideal_relu, value)  # wrong on purpose: fp32 mode must not round


def test_recording_leaves_predict_unchanged(fp32_model, x):
    model = ReferenceModel(fp32_model)
    before = model.predict({"x": x})["y"]
    recording = model.record({"x": x})
    np.testing.assert_array_equal(recording.value(recording.output_names[0]), before)
    np.testing.assert_array_equal(model.predict({"x": x})["y"], before)
    assert model._engine.compiler.runner.recorder is None


def test_a_neural_network_cannot_be_recorded(net, x):
    traced = torch.jit.trace(net, torch.rand(1, 8))
    nn_model = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 8))],
                          convert_to="neuralnetwork", skip_model_load=True)
    with pytest.raises(InputError, match="needs an ML program"):
        ReferenceModel(nn_model).record({"x": x})


def test_unknown_op_names_the_count(fp32_model, x):
    recording = ReferenceModel(fp32_model).record({"x": x})
    with pytest.raises(KeyError, match="no recorded op 'nope'"):
        recording.op("nope")
    assert recording.ops[0].to_dict()["shapes"] == {recording.ops[0].outputs[0]: [1, 8]}


def test_control_flow_records_the_outer_op_only():
    from coremltools.converters.mil import Builder as mb

    from .helpers import convert, spec

    @mb.program(input_specs=[spec(3)], opset_version=ct.target.iOS17)
    def prog(x):
        positive = mb.greater(x=mb.reduce_sum(x=x), y=0.0)
        return mb.cond(pred=positive, _true_fn=lambda: mb.mul(x=x, y=2.0),
                       _false_fn=lambda: mb.mul(x=x, y=-1.0))

    recording = ReferenceModel(convert(prog)).record({"x": np.array([1, 2, 3], np.float32)})
    assert [r.op_type for r in recording.ops] == ["reduce_sum", "greater", "cond"]
    cond = recording.ops[-1]
    np.testing.assert_array_equal(cond.values[cond.outputs[0]], [2, 4, 6])
    assert recording.ops[1].values[recording.ops[1].outputs[0]].dtype == np.bool_


def test_hazards_of_an_in_memory_conversion_name_the_source_module(fp16_model):
    model = ReferenceModel(fp16_model, watch_hazards=True)
    model.predict({"x": np.full((1, 8), 1e3, np.float32)})  # relu(...)² > 65504
    overflow = next(h for h in model.hazards if h.kind == "fp16_overflow")
    assert overflow.op_type == "pow" and overflow.location == "block (Block)"
    assert "[block (Block)]" in overflow.describe()
