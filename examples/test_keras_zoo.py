"""The Keras example zoo: Keras models checked against their Core ML conversions.

Run with ``make demo`` (skipped when TensorFlow is not installed). The source side receives
the default preprocess (float32 in [0, 1], NCHW); the TensorFlow source moves it to NHWC for
these channel-last models and says so in each result's notes.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

import coremltools as ct  # noqa: E402
import keras_zoo  # noqa: E402

from pytest_coremlcheck import images  # noqa: E402

IMAGES = Path(__file__).parent.parent / "fixtures" / "images"


@pytest.fixture(scope="module")
def digits(coreml_convert):
    """The digits CNN and its NeuralNetwork classifier conversion (fp32 weights), converted
    once and kept in the conversion cache."""
    model = keras_zoo.digits_classifier()
    return model, coreml_convert(model, **keras_zoo.digits_convert())


@pytest.mark.coreml_equivalence(min_snr_db=60, min_cosine=0.99999, min_top1=1.0)
def test_digits_neuralnetwork_classifier(coreml_check, digits):
    """Grayscale image in, ``classLabel`` + ``{digit: probability}`` out: the probabilities
    compare in class order with the Keras softmax, the label with its arg-max."""
    model, mlmodel = digits
    result = coreml_check(model, mlmodel, inputs=images(IMAGES, resize="center_crop"))
    assert set(result.output_results) == {"classLabel", "Identity"}


@pytest.mark.coreml_equivalence(min_snr_db=40, min_cosine=0.9999, min_top1=1.0)
def test_digits_8bit_linear_weights(coreml_check, digits):
    """The same classifier with 8-bit linearly quantised weights."""
    model, mlmodel = digits
    coreml_check(model, keras_zoo.quantized(mlmodel, 8),
                 inputs=images(IMAGES, resize="center_crop"))


@pytest.mark.coreml_equivalence(min_snr_db=60, min_cosine=0.99999, min_top1=1.0)
def test_digits_fp16_weights(coreml_check, digits):
    """The same classifier with FP16 weights (computation stays fp32 on the CPU path)."""
    model, mlmodel = digits
    coreml_check(model, keras_zoo.quantized(mlmodel, 16),
                 inputs=images(IMAGES, resize="center_crop"))


@pytest.mark.coreml_equivalence(min_snr_db=35, min_cosine=0.999)
def test_photo_classifier_ml_program(coreml_check):
    """A MobileNet-style Keras model converted on the fly to an fp16 ML program."""
    coreml_check(keras_zoo.photo_classifier(), convert=keras_zoo.photo_convert(),
                 inputs=images(IMAGES, resize="center_crop"))


@pytest.mark.coreml_equivalence(min_snr_db=60, min_cosine=0.99999)
def test_photo_classifier_ml_program_fp32(coreml_check):
    coreml_check(keras_zoo.photo_classifier(), convert=keras_zoo.photo_convert(
        compute_precision=ct.precision.FLOAT32), inputs=images(IMAGES, resize="center_crop"))
