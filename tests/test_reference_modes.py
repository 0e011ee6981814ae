"""Executor features beyond plain ops: state, multifunction, FP16 modes, hazard watch."""

import coremltools as ct
import numpy as np
import pytest
import torch

from pytest_coremlcheck import EquivalenceError, Tolerance, assert_equivalent, tensors
from pytest_coremlcheck.reference import InputError, ReferenceModel

from .helpers import convert_image_model, tiny_conv_net


class Accumulator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("total", torch.zeros(1, 4))

    def forward(self, x):
        self.total.add_(x)
        return self.total * 2


@pytest.fixture(scope="module")
def stateful_model():
    traced = torch.jit.trace(Accumulator().eval(), torch.ones(1, 4))
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 4))],
                      states=[ct.StateType(wrapped_type=ct.TensorType(shape=(1, 4)),
                                           name="total")],
                      minimum_deployment_target=ct.target.iOS18, skip_model_load=True)


def test_state_persists_across_predictions(stateful_model):
    model = ReferenceModel(stateful_model)
    state = model.make_state()
    x = np.array([[1, 2, 3, 4]], np.float32)
    outs = [model.predict({"x": x}, state=state) for _ in range(3)]
    name = model.outputs[0].name
    np.testing.assert_array_equal(outs[2][name], 2 * 3 * x)
    np.testing.assert_array_equal(state.read("total"), 3 * x)
    fresh = model.predict({"x": x})  # no state given: a fresh zero state
    np.testing.assert_array_equal(fresh[name], 2 * x)


def test_state_errors(stateful_model, saved_models):
    model = ReferenceModel(stateful_model)
    state = model.make_state()
    with pytest.raises(InputError, match="state 'total' has shape \\(1, 4\\), got \\(2, 2\\)"):
        state.write("total", np.zeros((2, 2)))
    with pytest.raises(InputError, match="no state 'other'"):
        state.read("other")
    with pytest.raises(InputError, match="has no state"):
        ReferenceModel(saved_models["two_outputs"]).make_state()


def test_multifunction_model(tmp_path):
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3))], opset_version=ct.target.iOS18)
    def double(x):
        return mb.mul(x=x, y=2.0, name="out")

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3))], opset_version=ct.target.iOS18)
    def negate(x):
        return mb.mul(x=x, y=-1.0, name="out")

    paths = []
    for name, prog in (("double", double), ("negate", negate)):
        path = tmp_path / f"{name}.mlpackage"
        ct.convert(prog, minimum_deployment_target=ct.target.iOS18,
                   compute_precision=ct.precision.FLOAT32, skip_model_load=True).save(str(path))
        paths.append(path)
    desc = ct.utils.MultiFunctionDescriptor()
    desc.add_function(str(paths[0]), "main", "double")
    desc.add_function(str(paths[1]), "main", "negate")
    desc.default_function_name = "double"
    joined = tmp_path / "joined.mlpackage"
    ct.utils.save_multifunction(desc, str(joined))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(ReferenceModel(joined).predict({"x": x})["out"], 2 * x)
    negated = ReferenceModel(joined, function_name="negate").predict({"x": x})["out"]
    np.testing.assert_array_equal(negated, -x)
    with pytest.raises(Exception, match="no function 'missing'.*double, negate"):
        ReferenceModel(joined, function_name="missing")


def test_fp16_modes_order_by_error(saved_models):
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), np.uint8))
    x = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1)[None] / 255)
    truth = tiny_conv_net()(x).detach().numpy()
    errors = {}
    for mode in ("fp32", "typed", "fp16-accumulate"):
        model = ReferenceModel(saved_models["image_fp16"], fp16_mode=mode)
        errors[mode] = np.abs(model.predict({"image": image})["probs"] - truth).max()
    assert errors["fp32"] < errors["typed"]
    assert ReferenceModel(saved_models["image_fp16"], fp16_mode="fp16-accumulate").platform == (
        "reference executor, fp16-accumulate")
    with pytest.raises(ValueError, match="unknown fp16 mode 'half'"):
        ReferenceModel(saved_models["image_fp16"], fp16_mode="half")


class Overflows(torch.nn.Module):
    """Scales by 1e5 and back: fine in fp32, beyond fp16's 65504 in an fp16 program."""

    def forward(self, x):
        return torch.relu(x * 1e5 + 1e4) / 1e5


def test_hazard_watch_names_the_first_overflowing_op():
    convert = dict(inputs=[ct.TensorType(name="x", shape=(1, 8))])
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(Overflows(), None, tensors(n=2), convert=convert,
                          tolerance=Tolerance(min_cosine=0.9), backend="reference")
    result = info.value.result
    kinds = {h["kind"] for h in result.hazards}
    assert "fp16_overflow" in kinds
    overflow = next(h for h in result.hazards if h["kind"] == "fp16_overflow")
    assert overflow["op_type"] in ("mul", "add", "cast") and overflow["op"]
    assert "first fp16 overflow (|x| > 65504): op" in str(info.value)
    assert any("NaN/Inf value(s) in the converted output where the source" in f
               for f in result.failures)


def test_fp32_program_has_no_fp16_hazards(saved_models):
    result = assert_equivalent(tiny_conv_net(), saved_models["image_fp32"], tensors(n=2))
    assert all(h["kind"] == "nonfinite" for h in result.hazards)


def test_image_model_round_trip_in_every_mode(saved_models):
    mlmodel = convert_image_model(tiny_conv_net(), precision=ct.precision.FLOAT16)
    for mode in ("typed", "fp16-accumulate", "fp32"):
        assert assert_equivalent(tiny_conv_net(), mlmodel, tensors(n=2), fp16_mode=mode).passed
