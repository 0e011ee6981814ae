"""Conversions of TensorFlow sources go through the conversion cache: Keras models and
concrete functions hit it when nothing changed, and miss when weights or graph change."""

from __future__ import annotations

import coremltools as ct
import pytest

from pytest_coremlcheck import assert_equivalent, tensors
from pytest_coremlcheck.sources.tensorflow.source import TensorFlowSource

from .helpers import gray_cnn, rgb_conv

tf = pytest.importorskip("tensorflow")

CACHED = "converted model taken from the conversion cache"


def _convert():
    return dict(convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                inputs=[ct.TensorType(name="image", shape=(1, 16, 16, 3))])


def test_keras_model_conversion_is_cached(tmp_path):
    first = assert_equivalent(rgb_conv(seed=0), None, tensors(n=1), convert=_convert(),
                              cache_dir=tmp_path)
    again = assert_equivalent(rgb_conv(seed=0), None, tensors(n=1), convert=_convert(),
                              cache_dir=tmp_path)
    assert CACHED not in first.notes and CACHED in again.notes
    other = assert_equivalent(rgb_conv(seed=1), None, tensors(n=1), convert=_convert(),
                              cache_dir=tmp_path)
    assert CACHED not in other.notes  # other weights: a new conversion, and it still passes
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_fingerprints_follow_weights_and_graph():
    for build in (rgb_conv, gray_cnn):  # a functional and a Sequential model
        keras = TensorFlowSource(build(seed=0))
        assert keras.fingerprint() == TensorFlowSource(build(seed=0)).fingerprint()
        assert keras.fingerprint() != TensorFlowSource(build(seed=1)).fingerprint()

    spec = tf.TensorSpec((1, 4), tf.float32)
    double = tf.function(lambda x: x * 2.0).get_concrete_function(spec)
    triple = tf.function(lambda x: x * 3.0).get_concrete_function(spec)
    assert TensorFlowSource(double).fingerprint() != TensorFlowSource(triple).fingerprint()


def test_tf_function_traced_at_check_time_is_not_cached():
    source = TensorFlowSource(tf.function(lambda x: x + 1.0))
    assert source.fingerprint() is None
