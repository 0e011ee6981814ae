"""End-to-end checks of Keras / TensorFlow sources against Core ML conversions, both backends."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pytest_coremlcheck import EquivalenceError, Tolerance, assert_equivalent, images, tensors
from pytest_coremlcheck.errors import CheckError

from .helpers import LABELS, _keras2, dense_two_inputs, gray_cnn, keras3_mlp, recurrent, rgb_conv

tf = pytest.importorskip("tensorflow")
ct = pytest.importorskip("coremltools")

from pytest_coremlcheck.sources.tensorflow import TensorFlowSource  # noqa: E402

IMAGES = Path(__file__).parent.parent.parent / "fixtures" / "images"
FP32 = {"compute_precision": ct.precision.FLOAT32}


def gray_image_type(scale=1 / 255.0):
    return ct.ImageType(name="image", shape=(1, 28, 28, 1), scale=scale,
                        color_layout=ct.colorlayout.GRAYSCALE)


def convert(model, **kwargs):
    """``ct.convert`` of whatever ``TensorFlowSource`` hands to it for ``model``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.convert(TensorFlowSource(model).runner.conversion_source([]),
                          source="tensorflow", skip_model_load=True, **kwargs)


@pytest.fixture(scope="module")
def classifier_nn(nn_engine_module):
    """``gray_cnn`` as a NeuralNetwork classifier with its pixel scale, and without it."""
    model = gray_cnn()
    config = dict(convert_to="neuralnetwork", classifier_config=ct.ClassifierConfig(LABELS))
    return {
        "model": model,
        "scaled": convert(model, inputs=[gray_image_type()], **config),
        "unscaled": convert(model, inputs=[gray_image_type(scale=1.0)], **config),
    }


@pytest.fixture(scope="module")
def nn_engine_module():
    return pytest.importorskip("pytest_coremlcheck.reference.neuralnetwork.engine")


# --------------------------------------------------------------------------- classifiers


def test_grayscale_classifier_neuralnetwork(classifier_nn):
    result = assert_equivalent(classifier_nn["model"], classifier_nn["scaled"],
                               images(IMAGES, resize="center_crop"))
    outputs = result.output_results
    assert set(outputs) == {"classLabel", "Identity"}
    assert outputs["classLabel"].metrics.top1 == 1.0 and outputs["Identity"].metrics.top1 == 1.0
    assert outputs["Identity"].metrics.shape == (1, len(LABELS))
    assert "input 'image': NCHW (1, 1, 28, 28) → NHWC (1, 28, 28, 1) for the TensorFlow " \
           "model" in result.notes
    assert result.source.endswith("(inputs NCHW→NHWC: image)")


def test_classifier_missing_its_input_scale_fails_with_a_table(classifier_nn):
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(classifier_nn["model"], classifier_nn["unscaled"],
                          images(IMAGES, resize="center_crop"))
    text = str(info.value)
    assert "FAILED" in text and "Identity" in text and "SNR" in text


def test_classifier_on_the_fly_to_ml_program(nn_engine):
    result = assert_equivalent(gray_cnn(), None, tensors(n=3), convert=dict(
        convert_to="mlprogram", inputs=[gray_image_type()],
        classifier_config=ct.ClassifierConfig(LABELS), **FP32))
    assert set(result.output_results) == {"classLabel", "classLabel_probs"}
    assert result.output_results["classLabel"].passed
    assert any(n.startswith("input 'image': NCHW") for n in result.notes)


# --------------------------------------------------------------------------- on the fly


@pytest.mark.parametrize("target", ["neuralnetwork", "mlprogram"])
def test_rgb_image_model_on_the_fly(target, request):
    if target == "neuralnetwork":
        request.getfixturevalue("nn_engine")
    convert_args = dict(convert_to=target, inputs=[ct.ImageType(
        name="image", shape=(1, 16, 16, 3), scale=1 / 255.0)])
    result = assert_equivalent(rgb_conv(), None, tensors(n=2), convert=convert_args)
    (output,) = result.output_results.values()
    assert output.metrics.shape == (1, 16, 16, 4)  # NHWC on both sides
    assert result.model == f"converted on the fly ({'neuralNetwork' if target == 'neuralnetwork' else 'mlProgram'})"  # noqa: E501


@pytest.mark.parametrize("target", ["neuralnetwork", "mlprogram"])
def test_two_inputs_two_outputs_from_an_explicit_feed(target, request):
    if target == "neuralnetwork":
        request.getfixturevalue("nn_engine")
    rng = np.random.default_rng(0)
    feed = {"zeta": rng.random((1, 4), dtype=np.float32),
            "alpha": rng.random((1, 3), dtype=np.float32)}
    result = assert_equivalent(dense_two_inputs(), None, feed,
                               convert=dict(convert_to=target))
    shapes = [r.metrics.shape for r in result.output_results.values()]
    assert shapes == [(1, 2), (1, 5)]


@pytest.mark.parametrize("kind, target", [
    ("lstm", "neuralnetwork"),
    ("gru", "mlprogram"),
    pytest.param("gru", "neuralnetwork", marks=pytest.mark.slow),
    pytest.param("lstm", "mlprogram", marks=pytest.mark.slow),
])
def test_recurrent_models(kind, target, request):
    if target == "neuralnetwork":
        request.getfixturevalue("nn_engine")
    assert_equivalent(recurrent(kind), None, tensors(n=2, low=-1.0), convert=dict(
        convert_to=target, inputs=[ct.TensorType(name="seq", shape=(1, 10, 6))]))


@pytest.mark.parametrize("target", ["neuralnetwork", "mlprogram"])
def test_keras3_model(target, request):
    if target == "neuralnetwork":
        request.getfixturevalue("nn_engine")
    result = assert_equivalent(keras3_mlp(), None, tensors(n=3, low=-1.0), convert=dict(
        convert_to=target, inputs=[ct.TensorType(name="x", shape=(1, 8))]))
    assert "Keras 3 model" in result.source


def test_concrete_function_to_ml_program():
    weights = tf.constant(np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 6), tf.float32, name="x")])
    def head(x):
        return tf.nn.softmax(tf.matmul(x, weights))

    result = assert_equivalent(head.get_concrete_function(), None, tensors(n=3), convert=dict(
        convert_to="mlprogram", inputs=[ct.TensorType(name="x", shape=(1, 6))], **FP32))
    assert "concrete function" in result.source


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("kind, target", [
    ("savedmodel", "mlprogram"), ("h5", "neuralnetwork"), ("keras", "mlprogram"),
    pytest.param("savedmodel", "neuralnetwork", marks=pytest.mark.slow),
])
def test_model_files_as_sources(kind, target, keras_files, request):
    if target == "neuralnetwork":
        request.getfixturevalue("nn_engine")
    path = keras_files[kind]
    precision = FP32 if target == "mlprogram" else {}
    result = assert_equivalent(path, None, images(IMAGES), convert=dict(
        convert_to=target, inputs=[gray_image_type()], **precision))
    assert str(path) in result.source if kind != "savedmodel" else "SavedModel" in result.source


# --------------------------------------------------------------------------- layouts


def test_nhwc_source_output_is_moved_to_a_channel_first_core_ml_output():
    model = rgb_conv()
    keras2 = pytest.importorskip("tf_keras")
    channel_first = keras2.Model(model.inputs, keras2.layers.Permute((3, 1, 2))(model.output))
    converted = convert(channel_first, convert_to="mlprogram", inputs=[ct.ImageType(
        name="image", shape=(1, 16, 16, 3), scale=1 / 255.0)], **FP32)
    result = assert_equivalent(model, converted, tensors(n=2))
    (output,) = result.output_results.values()
    assert output.metrics.shape == (1, 4, 16, 16)
    assert any("source NHWC (1, 16, 16, 4) → NCHW (1, 4, 16, 16)" in n for n in result.notes)


def test_a_perturbed_conversion_fails(nn_engine):
    model = rgb_conv()
    converted = convert(model, convert_to="neuralnetwork", inputs=[ct.ImageType(
        name="image", shape=(1, 16, 16, 3), scale=1 / 255.0)])
    weights = model.layers[-1].get_weights()
    model.layers[-1].set_weights([weights[0] * 1.05, weights[1]])
    with pytest.raises(EquivalenceError, match="SNR"):
        assert_equivalent(model, converted, tensors(n=2), tolerance=Tolerance(min_snr_db=60))


def test_keras_inputs_come_from_the_model_when_convert_names_none():
    """A model with declared input shapes converts on the fly without convert={'inputs': ...}."""
    result = assert_equivalent(rgb_conv(), None, inputs=tensors(2), convert=FP32)
    assert result.passed
    [output] = result.output_results.values()
    assert output.metrics.samples == 2 and output.metrics.shape == (1, 16, 16, 4)


def test_keras_model_with_an_unknown_dim_still_needs_declared_inputs():
    keras2 = _keras2()
    inputs = keras2.Input((None, 3))
    model = keras2.Model(inputs, keras2.layers.Dense(2)(inputs))
    with pytest.raises(CheckError, match="declares no complete input shapes"):
        assert_equivalent(model, None, inputs=tensors(1))
