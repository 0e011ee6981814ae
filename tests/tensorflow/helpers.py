"""Builders for the TensorFlow tests: small Keras models with seeded random weights.

``TF_USE_LEGACY_KERAS`` and ``TF_CPP_MIN_LOG_LEVEL`` are set here unless already set. TensorFlow
may have been imported (by coremltools) before; the Keras 2 models are therefore built with
``tf_keras`` itself, whatever ``tf.keras`` resolves to.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LABELS = ["cat", "dog", "fox", "owl", "yak"]


def _keras2():
    """tf_keras, imported directly: ``tf.keras`` may already be Keras 3 when coremltools
    imported TensorFlow before ``TF_USE_LEGACY_KERAS`` was set."""
    import tf_keras

    return tf_keras


def gray_cnn(seed: int = 0, classes: int = len(LABELS)):
    """tf_keras CNN classifier: (N, 28, 28, 1) grayscale in [0, 1] → softmax over classes."""
    keras2 = _keras2()
    keras2.utils.set_random_seed(seed)
    layers = keras2.layers
    model = keras2.Sequential([
        layers.Input((28, 28, 1), name="image"),
        layers.Conv2D(6, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(8, 3, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(classes, activation="softmax"),
    ], name="gray_cnn")
    _randomise_batchnorm(model)
    return model


def rgb_conv(seed: int = 0):
    """tf_keras fully convolutional model: (N, 16, 16, 3) → (N, 16, 16, 4), NHWC."""
    keras2 = _keras2()
    keras2.utils.set_random_seed(seed)
    layers = keras2.layers
    inputs = layers.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(4, 1)(x)
    model = keras2.Model(inputs, x, name="rgb_conv")
    _randomise_batchnorm(model)
    return model


def dense_two_inputs(seed: int = 0):
    """tf_keras model with inputs ``zeta`` (N, 4) and ``alpha`` (N, 3), two outputs."""
    keras2 = _keras2()
    keras2.utils.set_random_seed(seed)
    layers = keras2.layers
    zeta = layers.Input((4,), name="zeta")
    alpha = layers.Input((3,), name="alpha")
    first = layers.Dense(2, activation="tanh", name="zz_out")(zeta)
    second = layers.Dense(5, name="aa_out")(layers.Concatenate()([zeta, alpha]))
    return keras2.Model([zeta, alpha], [first, second], name="two_inputs")


def recurrent(kind: str = "lstm", seed: int = 0):
    """tf_keras LSTM or GRU over (1, 10, 6) sequences → (1, 3)."""
    keras2 = _keras2()
    keras2.utils.set_random_seed(seed)
    layers = keras2.layers
    cell = layers.LSTM(8) if kind == "lstm" else layers.GRU(8)
    return keras2.Sequential([layers.Input((10, 6), batch_size=1, name="seq"), cell,
                                layers.Dense(3)], name=kind)


def keras3_mlp(seed: int = 0):
    """Keras 3 model: (N, 8) → (N, 4)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8,), name="x"), keras.layers.Dense(6, activation="relu"),
                             keras.layers.Dense(4)], name="k3_mlp")


def _randomise_batchnorm(model) -> None:
    """Give batch-norm layers non-trivial moving statistics (fresh ones are 0 / 1)."""
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            weights = layer.get_weights()
            shape = weights[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.uniform(-0.2, 0.2, shape),
                               rng.uniform(-0.5, 0.5, shape), rng.uniform(0.5, 2.0, shape)])
