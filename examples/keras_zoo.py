"""Keras models for the example zoo: builders and their ``ct.convert`` arguments.

Weights are random (seeded); nothing is downloaded. The models are Keras 2 (``tf_keras``), the
Keras that ``ct.convert`` takes directly; they take images channel-last (NHWC), as Keras does.
"""

from __future__ import annotations

import coremltools as ct
import numpy as np

DIGIT_LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGIT_SIZE = 28
PHOTO_SIZE = 64
PHOTO_CLASSES = 12


def _keras():
    import tf_keras

    return tf_keras


def digits_classifier(seed: int = 0):
    """A LeNet-style CNN: 28×28 grayscale in [0, 1] (N, 28, 28, 1) → softmax over 10 digits."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential([
        layers.Input((DIGIT_SIZE, DIGIT_SIZE, 1), name="image"),
        layers.Conv2D(16, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.25),
        layers.Dense(len(DIGIT_LABELS), activation="softmax"),
    ], name="digits")
    _random_statistics(model, seed)
    return model


def digits_convert(**overrides) -> dict:
    """A NeuralNetwork classifier: grayscale image input scaled to [0, 1], digit labels."""
    args = dict(
        convert_to="neuralnetwork",
        inputs=[ct.ImageType(name="image", shape=(1, DIGIT_SIZE, DIGIT_SIZE, 1),
                             color_layout=ct.colorlayout.GRAYSCALE, scale=1 / 255.0)],
        classifier_config=ct.ClassifierConfig(DIGIT_LABELS),
    )
    args.update(overrides)
    return args


def convert(model, **args):
    """``ct.convert`` a Keras 2 model, quietly."""
    import logging
    import warnings

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.convert(_convertible(model), source="tensorflow", skip_model_load=True,
                          **args)


def quantized(mlmodel, nbits: int):
    """A NeuralNetwork model with its weights stored in ``nbits`` bits: 16 (FP16) or 8 (linear
    8-bit integers with a per-channel scale and bias)."""
    import contextlib
    import io

    from coremltools.models.neural_network import quantization_utils

    mode = "linear" if nbits < 16 else None
    kwargs = {"quantization_mode": mode} if mode else {}
    with contextlib.redirect_stdout(io.StringIO()):  # it prints every layer it quantizes
        return quantization_utils.quantize_weights(mlmodel, nbits=nbits, **kwargs)


def photo_classifier(seed: int = 0):
    """A MobileNet-style RGB classifier: (N, 64, 64, 3) in [0, 1] → softmax over 12 classes;
    depthwise-separable blocks with batch norm and ReLU6, a residual add, global pooling."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = layers.Input((PHOTO_SIZE, PHOTO_SIZE, 3), name="photo")
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    for filters, stride in ((24, 2), (24, 1), (32, 2)):
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.ReLU(6.0)(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 1, use_bias=False)(y))
        x = layers.Add()([x, y]) if stride == 1 and x.shape[-1] == filters else y
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(PHOTO_CLASSES, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="photo_classifier")
    _random_statistics(model, seed)
    return model


def photo_convert(**overrides) -> dict:
    """An ML program (fp16 by default) with an RGB image input scaled to [0, 1]."""
    args = dict(
        convert_to="mlprogram",
        inputs=[ct.ImageType(name="photo", shape=(1, PHOTO_SIZE, PHOTO_SIZE, 3),
                             scale=1 / 255.0)],
        minimum_deployment_target=ct.target.iOS16,
    )
    args.update(overrides)
    return args


def _random_statistics(model, seed: int) -> None:
    """Non-trivial batch-norm statistics (fresh layers hold mean 0, variance 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            shape = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.uniform(-0.2, 0.2, shape),
                               rng.uniform(-0.2, 0.2, shape), rng.uniform(0.5, 1.5, shape)])


def _convertible(model):
    """The model itself when ``tf.keras`` is tf_keras; else the TensorFlow source's concrete
    function (``ct.convert`` checks Keras models against ``tf.keras.Model``)."""
    from pytest_coremlcheck.sources.tensorflow import TensorFlowSource

    return TensorFlowSource(model).runner.conversion_source([])
