"""Weight formats: float16 and 1–8-bit linear / lookup-table quantization exactly as
``quantization_utils.quantize_weights`` writes them."""

from __future__ import annotations

import contextlib
import copy
import io

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.models.neural_network import quantization_utils as qu
from coremltools.proto import NeuralNetwork_pb2
from torch import nn

from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.neuralnetwork import weights

from .helpers import convert_nn, torch_outputs

_MODES = {
    "linear": ct.models._QUANTIZATION_MODE_LINEAR_QUANTIZATION,
    "linear_symmetric": ct.models._QUANTIZATION_MODE_LINEAR_SYMMETRIC,
    "linear_lut": ct.models._QUANTIZATION_MODE_LOOKUP_TABLE_LINEAR,
}


def _quantized_wp(values: np.ndarray, nbits: int, mode: str, axis: int = 0):
    mode = _MODES[mode]
    wp = NeuralNetwork_pb2.WeightParams()
    wp.floatValue.extend(values.flatten().tolist())
    with contextlib.redirect_stdout(io.StringIO()):
        qu._quantize_wp_field(wp, nbits, mode, values.shape, axis=axis)
    return wp


def _coremltools_dequantized(wp, shape, axis=0) -> np.ndarray:
    wp = copy.deepcopy(wp)
    qu._dequantize_wp(wp, shape, axis)
    return np.asarray(wp.floatValue, dtype=np.float32).reshape(shape)


@pytest.mark.parametrize("nbits", range(1, 9))
@pytest.mark.parametrize("mode", ["linear", "linear_lut"])
def test_decoder_matches_coremltools_dequantization(nbits, mode):
    rng = np.random.default_rng(nbits)
    values = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    wp = _quantized_wp(values, nbits, mode)
    got = weights.decode(wp, values.shape, "w")
    np.testing.assert_allclose(got, _coremltools_dequantized(wp, values.shape), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("nbits", [2, 5, 8])
def test_per_channel_axis_one_and_symmetric(nbits):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 4, 2, 2)).astype(np.float32)
    wp = _quantized_wp(values, nbits, "linear", axis=1)
    assert len(wp.quantization.linearQuantization.scale) == 4
    got = weights.decode(wp, values.shape, "w", axis=1)
    np.testing.assert_allclose(got, _coremltools_dequantized(wp, values.shape, axis=1),
                               rtol=1e-6, atol=1e-6)
    wp = _quantized_wp(values, 8, "linear_symmetric")
    got = weights.decode(wp, values.shape, "w")
    np.testing.assert_allclose(got, _coremltools_dequantized(wp, values.shape), atol=1e-6)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        y = self.deconv(torch.relu(self.conv(x)))
        return self.fc(y.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def float_model():
    torch.manual_seed(0)
    model = _Net().eval()
    x = torch.rand(1, 3, 8, 8)
    return model, x, convert_nn(model, x, target=ct.target.iOS13)


def _quantize(mlmodel, nbits, mode, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return qu.quantize_weights(mlmodel, nbits, quantization_mode=mode, **kwargs)


def _predict(model, x) -> np.ndarray:
    out = ReferenceModel(model).predict({"x0": x.numpy()})
    return next(iter(out.values()))


@pytest.mark.parametrize("nbits", [1, 2, 3, 4, 6, 7, 8])
@pytest.mark.parametrize("mode", ["linear", "linear_lut"])
def test_quantize_weights_models_match_their_dequantized_spec(float_model, nbits, mode):
    _, x, mlmodel = float_model
    quantized = _quantize(mlmodel, nbits, mode)
    spec = quantized if not hasattr(quantized, "get_spec") else quantized.get_spec()
    layer = spec.neuralNetwork.layers[0].convolution.weights
    assert layer.quantization.numberOfBits == nbits and len(layer.floatValue) == 0
    dequantized = copy.deepcopy(spec)
    qu._dequantize_nn_spec(dequantized.neuralNetwork)
    np.testing.assert_allclose(_predict(spec, x), _predict(dequantized, x), rtol=1e-5,
                               atol=1e-5)


def test_8bit_and_fp16_weights_stay_close_to_torch(float_model):
    model, x, mlmodel = float_model
    expected = torch_outputs(model, x)[0]
    for nbits, mode, atol in ((16, "linear", 2e-3), (8, "linear", 3e-2),
                              (8, "linear_symmetric", 3e-2)):
        quantized = _quantize(mlmodel, nbits, mode)
        np.testing.assert_allclose(_predict(quantized, x), expected, atol=atol)


def test_custom_lut_function(float_model):
    _, x, mlmodel = float_model

    def lut_function(nbits, w):
        lut = np.linspace(w.min(), w.max(), 1 << nbits)
        return lut, np.abs(w.reshape(-1, 1) - lut).argmin(axis=1).astype(np.uint8)

    quantized = _quantize(mlmodel, 3, "custom_lut", lut_function=lut_function)
    spec = quantized if not hasattr(quantized, "get_spec") else quantized.get_spec()
    dequantized = copy.deepcopy(spec)
    qu._dequantize_nn_spec(dequantized.neuralNetwork)
    np.testing.assert_allclose(_predict(spec, x), _predict(dequantized, x), atol=1e-5)


@pytest.mark.slow
def test_quantized_lstm_and_embedding():
    torch.manual_seed(1)

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 6)
            self.lstm = nn.LSTM(6, 8)

        def forward(self, ids):
            return self.lstm(self.emb(ids))[0]

    model = Seq().eval()
    ids = torch.randint(0, 20, (5, 1))
    mlmodel = convert_nn(model, ids)
    for nbits in (4, 8):
        quantized = _quantize(mlmodel, nbits, "linear")
        spec = quantized if not hasattr(quantized, "get_spec") else quantized.get_spec()
        dequantized = copy.deepcopy(spec)
        qu._dequantize_nn_spec(dequantized.neuralNetwork)
        got = ReferenceModel(spec).predict({"x0": ids.numpy()})
        ref = ReferenceModel(dequantized).predict({"x0": ids.numpy()})
        for name in got:
            np.testing.assert_allclose(got[name], ref[name], atol=1e-5)
