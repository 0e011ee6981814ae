"""Blob shapes against the shapes a NeuralNetwork spec declares: model outputs and layer
``outputTensor``; flexible inputs and rank-5 specs are not held to the default shape."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder, flexible_shape_utils

from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.errors import ExecutionError

from .helpers import convert_nn


def _softmax_spec(declared_out):
    b = NeuralNetworkBuilder([("x", datatypes.Array(2, 3))], [("out", datatypes.Array(
        *declared_out))], disable_rank5_shape_mapping=True)
    b.add_softmax_nd("sm", "x", "out", axis=-1)
    return b.spec


def test_declared_output_shape_holds():
    out = ReferenceModel(_softmax_spec((2, 3))).predict({"x": np.zeros((2, 3), np.float32)})
    np.testing.assert_allclose(out["out"], np.full((2, 3), 1 / 3), rtol=1e-6)


def test_wrong_declared_output_shape_names_the_layer():
    model = ReferenceModel(_softmax_spec((3, 2)))
    with pytest.raises(ExecutionError, match=r"output 'out' from layer 'sm' \(softmaxND\) has "
                                             r"shape \[2, 3\]; the model declares \(3, 2\)"):
        model.predict({"x": np.zeros((2, 3), np.float32)})


def test_layer_output_tensor_rank_and_dims():
    spec = _softmax_spec((2, 3))
    tensor = spec.neuralNetwork.layers[0].outputTensor.add()
    tensor.rank = 2
    tensor.dimValue.extend([-1, 3])
    x = {"x": np.zeros((2, 3), np.float32)}
    ReferenceModel(spec).predict(x)
    tensor.dimValue[1] = 4
    with pytest.raises(ExecutionError, match=r"layer 'sm' \(softmaxND\) output 'out' has shape "
                                             r"\[2, 3\]; the layer's outputTensor declares "
                                             r"rank 2, shape \[\?, 4\]"):
        ReferenceModel(spec).predict(x)
    tensor.rank = 3
    del tensor.dimValue[:]
    with pytest.raises(ExecutionError, match="declares rank 3"):
        ReferenceModel(spec).predict(x)


def test_flexible_input_is_not_held_to_the_default_output_shape():
    spec = _softmax_spec((2, 3))
    tensor = spec.neuralNetwork.layers[0].outputTensor.add()
    tensor.rank = 2
    tensor.dimValue.extend([2, 3])
    flexible_shape_utils.set_multiarray_ndshape_range(spec, "x", lower_bounds=[1, 1],
                                                      upper_bounds=[5, 5])
    out = ReferenceModel(spec).predict({"x": np.zeros((4, 5), np.float32)})
    assert out["out"].shape == (4, 5)
    tensor.rank = 3  # the rank still holds whatever the input shape
    with pytest.raises(ExecutionError, match="declares rank 3"):
        ReferenceModel(spec).predict({"x": np.zeros((4, 5), np.float32)})


def test_rank5_spec_declares_channels_only():
    """A spec-1 sequence model declares [C] for a [Seq, 1, C, 1, 1] output blob."""
    seq, hidden = 4, 3
    b = NeuralNetworkBuilder([("x", datatypes.Array(1, seq, 2))], [("y", datatypes.Array(
        hidden)), ("h", datatypes.Array(hidden))])
    b.add_permute("seq", dim=(2, 3, 0, 1), input_name="x", output_name="xs")
    rng = np.random.default_rng(0)
    b.add_simple_rnn("r", W_h=rng.standard_normal((hidden, hidden)),
                     W_x=rng.standard_normal((hidden, 2)), b=None, hidden_size=hidden,
                     input_size=2, activation="TANH", input_names=["xs"],
                     output_names=["y", "h"], output_all=True)
    out = ReferenceModel(b.spec).predict({"x": rng.random((1, seq, 2), np.float32)})
    assert out["y"].shape == (seq, 1, hidden, 1, 1)
    b.spec.description.output[1].type.multiArrayType.shape[0] = hidden + 1
    with pytest.raises(ExecutionError, match=r"output 'h' from layer 'r' \(simpleRecurrent\)"):
        ReferenceModel(b.spec).predict({"x": rng.random((1, seq, 2), np.float32)})


def test_converted_torch_model_with_declared_outputs_runs():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    x = torch.rand(1, 3, 8, 8)
    spec = convert_nn(model, x, target=ct.target.iOS14).get_spec()
    output = spec.description.output[0].type.multiArrayType
    del output.shape[:]
    output.shape.extend([1, 4])
    out = ReferenceModel(spec).predict({"x0": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(list(out.values())[0], model(x).numpy(), rtol=1e-4,
                                   atol=1e-5)
