"""Conversion localisation of Keras models: layers found by name, NHWC values transposed."""

from __future__ import annotations

import contextlib
import os

import coremltools as ct
import pytest

from pytest_coremlcheck import Tolerance, tensors
from pytest_coremlcheck.localize.conversion import localize_conversion

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
pytestmark = pytest.mark.slow  # TensorFlow's import and two Keras conversions


def leaky_relu(context, node):
    """The bug: ``Relu`` converted as a leaky ReLU (slope 0.1 below zero)."""
    from coremltools.converters.mil import Builder as mb

    x = context[node.inputs[0]]
    context.add(node.name, mb.leaky_relu(x=x, alpha=0.1, name=node.name))


@contextlib.contextmanager
def wrong_relu():
    from coremltools.converters.mil.frontend.tensorflow.tf_op_registry import _TF_OPS_REGISTRY

    original = _TF_OPS_REGISTRY["Relu"]
    _TF_OPS_REGISTRY["Relu"] = leaky_relu
    try:
        yield
    finally:
        _TF_OPS_REGISTRY["Relu"] = original


@pytest.fixture(scope="module")
def keras_models():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 3)), layers.Conv2D(4, 3, padding="same", name="conv1"),
        layers.Activation("tanh", name="act1"), layers.Conv2D(4, 3, padding="same", name="conv2"),
        layers.Activation("relu", name="act2"), layers.GlobalAveragePooling2D(name="pool"),
        layers.Dense(2, name="head")])
    right = _convert(model)
    with wrong_relu():
        wrong = _convert(model)
    return model, right, wrong


def _convert(model):
    """``ct.convert`` of what the project's TensorFlow source hands it for ``model``."""
    from pytest_coremlcheck.sources.tensorflow.source import TensorFlowSource

    return ct.convert(TensorFlowSource(model).runner.conversion_source([]), source="tensorflow",
                      convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                      skip_model_load=True)


def test_keras_layers_align_through_the_nhwc_transpose(keras_models):
    model, right, _ = keras_models
    found = localize_conversion(model, right, tensors(2), Tolerance(min_snr_db=90))
    assert found.suspect is None and found.origin == "keras"
    by_name = {m.module: m for m in found.modules}
    assert by_name["conv1"].agrees and by_name["conv1"].transpose == (0, 2, 3, 1)
    assert by_name["head"].agrees and by_name["pool"].agrees
    assert [m.module for m in found.modules] == ["conv1", "act1", "conv2", "act2", "pool",
                                                 "head"]


def test_keras_wrong_relu_is_localised_to_its_layer(keras_models):
    model, _, wrong = keras_models
    found = localize_conversion(model, wrong, tensors(2, low=-1.0), Tolerance(min_snr_db=90))
    assert found.suspect.module == "act2" and found.suspect.module_type == "Activation"
    assert found.verdict == "module"
    assert all(m.agrees for m in found.modules[:2])
