"""Wrong on purpose: broken specs and unsupported layers give errors naming model and part."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest
import torch
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network import quantization_utils as qu
from torch import nn

from pytest_coremlcheck.reference import (
    InputError,
    ModelLoadError,
    ReferenceModel,
    UnsupportedOpError,
)
from pytest_coremlcheck.reference.neuralnetwork import registry

from .helpers import convert_nn


@pytest.fixture(scope="module")
def conv_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    return convert_nn(model, torch.rand(1, 3, 6, 6))


def _saved(spec, tmp_path, name="broken.mlmodel"):
    path = tmp_path / name
    path.write_bytes(spec.SerializeToString())
    return path


def _conv_layer(spec):
    return next(layer for layer in spec.neuralNetwork.layers
                if layer.WhichOneof("layer") == "convolution")


def test_corrupted_weight_blob_size(conv_model, tmp_path):
    spec = copy.deepcopy(conv_model.get_spec())
    layer = _conv_layer(spec)
    del layer.convolution.weights.floatValue[-5:]
    path = _saved(spec, tmp_path)
    with pytest.raises(ModelLoadError) as info:
        ReferenceModel(path)
    message = str(info.value)
    assert str(path) in message
    assert f"layer {layer.name!r} (convolution) weights" in message
    assert "103 float32 values, expected 108 for shape [4, 3, 3, 3]" in message


def test_quantized_payload_size_mismatch(conv_model, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        quantized = qu.quantize_weights(conv_model, 4, quantization_mode="linear")
    spec = quantized if not hasattr(quantized, "get_spec") else quantized.get_spec()
    layer = _conv_layer(spec)
    layer.convolution.weights.rawValue = layer.convolution.weights.rawValue[:-3]
    path = _saved(spec, tmp_path)
    with pytest.raises(ModelLoadError) as info:
        ReferenceModel(path)
    message = str(info.value)
    assert str(path) in message and repr(layer.name) in message
    assert "4-bit quantized payload is 51 bytes, expected 54 for 108 values" in message


def test_lookup_table_of_wrong_length():
    b = NeuralNetworkBuilder([("data", datatypes.Array(4))], [("out", None)])
    b.add_inner_product("fc", W=bytes(2), b=None, input_channels=4, output_channels=2,
                        has_bias=False, input_name="data", output_name="out",
                        is_quantized_weight=True, quantization_type="lut", nbits=2,
                        quant_lut=np.arange(4, dtype=np.float32))
    lut = b.spec.neuralNetwork.layers[0].innerProduct.weights.quantization
    del lut.lookupTableQuantization.floatValue[-1]
    with pytest.raises(ModelLoadError, match=r"'fc' \(innerProduct\) weights: lookup table "
                                             r"has 3 entries, expected 4"):
        ReferenceModel(b.spec)


def test_unknown_layer_type_from_a_newer_spec(conv_model, tmp_path):
    spec = copy.deepcopy(conv_model.get_spec())
    layer = spec.neuralNetwork.layers[-1]
    name = layer.name
    layer.ClearField(layer.WhichOneof("layer"))
    # A layer oneof field this proto does not define (number 1999, empty message).
    raw = layer.SerializeToString() + bytes([0xFA, 0x7C, 0x00])
    spec.neuralNetwork.layers[-1].ParseFromString(raw)
    path = _saved(spec, tmp_path)
    with pytest.raises(UnsupportedOpError) as info:
        ReferenceModel(path)
    message = str(info.value)
    assert str(path) in message and repr(name) in message
    assert "unknown layer type (NeuralNetworkLayer field 1999)" in message


def test_layer_without_implementation_names_type_and_model(conv_model, monkeypatch):
    monkeypatch.delitem(registry._BUILDERS, "activation")
    with pytest.raises(UnsupportedOpError, match=r"is of type 'activation', which the "
                                                 r"reference executor does not implement"):
        ReferenceModel(conv_model)


def test_custom_layer_is_unsupported():
    b = NeuralNetworkBuilder([("data", datatypes.Array(3))], [("out", None)])
    layer = b.add_custom("mine", ["data"], ["out"])
    layer.custom.className = "MyLayer"
    with pytest.raises(UnsupportedOpError, match=r"'mine' \(custom\).*'MyLayer'"):
        ReferenceModel(b.spec)


def test_dangling_blob(conv_model):
    spec = copy.deepcopy(conv_model.get_spec())
    layer = spec.neuralNetwork.layers[-1]
    layer.input[0] = "nowhere"
    with pytest.raises(ModelLoadError, match=rf"layer {layer.name!r} \(activation\) reads blob "
                                             r"'nowhere', which no model input or earlier layer "
                                             r"produces"):
        ReferenceModel(spec)


def test_missing_output_and_bad_precision(conv_model):
    spec = copy.deepcopy(conv_model.get_spec())
    spec.description.output[0].name = "ghost"
    with pytest.raises(ModelLoadError, match="no layer produces the declared output"):
        ReferenceModel(spec)
    with pytest.raises(ValueError, match="unknown NeuralNetwork precision 'bf16'"):
        ReferenceModel(conv_model, nn_precision="bf16")


def test_wrong_input_shape(conv_model):
    model = ReferenceModel(conv_model)
    with pytest.raises(InputError, match=r"shape \(1, 3, 5, 5\) does not match"):
        model.predict({"x0": np.zeros((1, 3, 5, 5), dtype=np.float32)})


def test_runtime_failure_names_layer():
    b = NeuralNetworkBuilder([("ids", datatypes.Array(1))], [("out", None)])
    b.add_embedding("emb", W=np.ones((2, 4)), b=None, input_dim=4, output_channels=2,
                    has_bias=False, input_name="ids", output_name="out")
    with pytest.raises(Exception, match=r"layer 'emb' \(embedding\) failed.*indices must be "
                                        r"in \[0, 3\]"):
        ReferenceModel(b.spec).predict({"ids": np.array([7.0], dtype=np.float32)})
