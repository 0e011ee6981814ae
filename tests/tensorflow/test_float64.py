"""Keras sources in float64, for the FP32 default's noise floor (``noise_floor``)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_coremlcheck.compare.noise_floor import measure
from pytest_coremlcheck.sources import SourceError
from pytest_coremlcheck.sources.tensorflow import TensorFlowSource

from .helpers import _keras2, gray_cnn, rgb_conv

FEEDS = [{"image": np.random.default_rng(i).uniform(0, 1, (1, 28, 28, 1)).astype(np.float32)}
         for i in range(2)]


def test_keras_model_runs_in_float64_close_to_float32():
    src = TensorFlowSource(gray_cnn())
    float32 = src.run(FEEDS[0], ["image"])[0]
    float64 = src.run_float64(FEEDS[0], ["image"])[0]
    assert float64.dtype == np.float64 and float32.dtype == np.float32
    assert not np.array_equal(float64, float32.astype(np.float64))  # really computed in float64
    np.testing.assert_allclose(float64, float32, rtol=1e-5, atol=1e-7)


def test_keras_floor_is_measured_per_output():
    src = TensorFlowSource(gray_cnn())
    outputs = [src.run(f, ["image"]) for f in FEEDS]
    floor = measure(src, FEEDS, ["image"], outputs, ["probs"])
    assert floor.measured and 100 < floor.floors_db["probs"] < 200
    assert floor.limits_db()["probs"] == round(min(floor.floors_db["probs"] - 30, 120), 1)


def test_functional_model_with_nchw_feed_runs_in_float64():
    src = TensorFlowSource(rgb_conv())
    feed = {"image": np.random.default_rng(0).uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)}
    out32, out64 = src.run(feed, ["image"])[0], src.run_float64(feed, ["image"])[0]
    assert out64.dtype == np.float64 and out64.shape == out32.shape == (1, 16, 16, 4)


def test_subclassed_model_is_rebuilt_and_built_in_float64():
    keras = _keras2()

    class Scaler(keras.Model):
        def __init__(self, factor=2.0):
            super().__init__()
            self.dense = keras.layers.Dense(4)
            self.factor = factor

        def call(self, x):
            return self.dense(x) * self.factor

    model = Scaler()
    feed = {"x": np.random.default_rng(0).uniform(0, 1, (1, 4)).astype(np.float32)}
    model(feed["x"])
    src = TensorFlowSource(model)
    out32, out64 = src.run(feed, ["x"])[0], src.run_float64(feed, ["x"])[0]
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out64, out32, rtol=1e-5, atol=1e-6)


def test_model_whose_copy_cannot_take_its_weights_has_no_floor():
    keras = _keras2()

    class Growing(keras.Model):
        """Its kernel's shape follows the first input: a float64 copy built on 3-feature
        inputs cannot take the weights of the original, built on 4 features."""

        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    model = Growing()
    model(np.zeros((1, 4), np.float32))
    src = TensorFlowSource(model)
    feed = [{"x": np.ones((1, 3), np.float32)}]
    floor = measure(src, feed, ["x"], [[np.ones((1, 4), np.float32)]], ["y"])
    assert not floor.measured and "float64" in floor.reason


def test_tf_function_cannot_run_in_float64():
    import tensorflow as tf

    fn = tf.function(lambda x: x * 2.0,
                     input_signature=[tf.TensorSpec((1, 4), tf.float32, name="x")])
    with pytest.raises(SourceError, match="dtypes it was traced with"):
        TensorFlowSource(fn).run_float64({"x": np.ones((1, 4), np.float32)}, ["x"])


def test_keras3_model_runs_in_float64():
    from .helpers import keras3_mlp

    model = keras3_mlp()
    src = TensorFlowSource(model)
    shape = (1, *model.inputs[0].shape[1:])
    feed = {"x": np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)}
    out32, out64 = src.run(feed, ["x"])[0], src.run_float64(feed, ["x"])[0]
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out64, out32, rtol=1e-5, atol=1e-6)
