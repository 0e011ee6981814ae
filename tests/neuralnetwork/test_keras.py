"""tf.keras models converted to NeuralNetwork specs (needs the ``tensorflow`` extra).

Keras recurrent layers convert to ``loop``/``branch`` networks with dynamic-shape layers
(getShape, gather, scatter, sliceStatic, …), which the executor runs as nested networks.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
keras = pytest.importorskip("tf_keras")
tf = pytest.importorskip("tensorflow")

import coremltools as ct  # noqa: E402

from pytest_coremlcheck.reference import ReferenceModel  # noqa: E402


def _layers(nn) -> set[str]:
    kinds = set()
    for layer in nn.layers:
        kind = layer.WhichOneof("layer")
        kinds.add(kind)
        if kind == "loop":
            kinds |= _layers(layer.loop.bodyNetwork) | _layers(layer.loop.conditionNetwork)
        elif kind == "branch":
            kinds |= _layers(layer.branch.ifBranch) | _layers(layer.branch.elseBranch)
    return kinds


def _check(model, atol=1e-5):
    rng = np.random.default_rng(0)
    x = rng.random(model.input_shape, dtype=np.float32)
    # A concrete function converts whichever Keras ``tf.keras`` resolved to in this process.
    function = tf.function(model).get_concrete_function(
        tf.TensorSpec(model.input_shape, tf.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlmodel = ct.convert([function], source="tensorflow", convert_to="neuralnetwork",
                             minimum_deployment_target=ct.target.iOS14)
    ref = ReferenceModel(mlmodel)
    got = next(iter(ref.predict({ref.inputs[0].name: x}).values()))
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(got.reshape(expected.shape), expected, atol=atol)
    return _layers(mlmodel.get_spec().neuralNetwork)


def _seq(*layers, shape):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.layers.Input(shape, batch_size=1), *layers])


def test_keras_cnn():
    model = _seq(keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                 keras.layers.DepthwiseConv2D(3), keras.layers.BatchNormalization(),
                 keras.layers.MaxPool2D(), keras.layers.Conv2DTranspose(2, 3, strides=2,
                                                                        padding="same"),
                 keras.layers.UpSampling2D(interpolation="bilinear"),
                 keras.layers.GlobalAveragePooling2D(),
                 keras.layers.Dense(3, activation="softmax"), shape=(8, 8, 3))
    layers = _check(model)
    assert {"convolution", "pooling", "upsample"} <= layers


def test_keras_lstm_gru_use_loops():
    model = _seq(keras.layers.LSTM(6, return_sequences=True), keras.layers.GRU(3),
                 shape=(5, 4))
    layers = _check(model)
    assert {"loop", "branch", "getShape", "scatter"} <= layers


@pytest.mark.slow
def test_keras_bidirectional_and_simple_rnn():
    model = _seq(keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
                 keras.layers.SimpleRNN(4), keras.layers.Dense(2), shape=(6, 4))
    assert "loop" in _check(model)


@pytest.mark.parametrize("output_padding", [None, (1, 1, 1)])
def test_keras_conv3d_transpose_same_padding(output_padding):
    """``outputShape`` past the full transposed convolution (kernel 1, output_padding 1) is
    zero-extended at the end, as the transpose of a SAME convolution."""
    model = _seq(keras.layers.Conv3DTranspose(2, (1, 2, 2), strides=2, padding="same",
                                              output_padding=output_padding),
                 shape=(7, 11, 12, 3))
    assert "convolution3d" in _check(model, atol=1e-4)
