"""Training parity against Keras: an MNIST-style Keras CNN whose last two dense layers are
made updatable (the book's personalisation set-up), rebuilt with NeuralNetworkBuilder from the
Keras weights (Keras → NeuralNetwork conversion is gone from coremltools 9)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network.update_optimizer_utils import AdamParams, SgdParams

from pytest_coremlcheck.training import UpdateCheck, check_update, keras_trainer

from .builders import quiet

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
pytestmark = pytest.mark.slow


def keras_cnn():
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    return tf_keras.Sequential([
        layers.Input((12, 12, 1)),
        layers.Conv2D(4, 3, activation="relu", name="conv"),
        layers.MaxPooling2D(name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(16, activation="relu", name="dense1"),
        layers.Dense(3, activation="softmax", name="dense2"),
    ])


def coreml_from_keras(model, set_optimizer):
    """The Keras CNN as an updatable NeuralNetwork: CHW blobs, so the pooled map is permuted to
    HWC before flattening, as Keras flattens it."""
    conv_k, conv_b, d1_k, d1_b, d2_k, d2_b = [np.asarray(w) for w in model.get_weights()]
    b = NeuralNetworkBuilder([("image", datatypes.Array(1, 12, 12))],
                             [("probs", datatypes.Array(3))])
    b.add_convolution("conv", 1, 4, 3, 3, 1, 1, "valid", 1, conv_k, conv_b, True,
                      input_name="image", output_name="c")
    b.add_activation("relu0", "RELU", "c", "cr")
    b.add_pooling("pool", 2, 2, 2, 2, layer_type="MAX", padding_type="VALID",
                  input_name="cr", output_name="p")
    b.add_permute("to_hwc", (0, 2, 3, 1), "p", "p_hwc")
    b.add_flatten("flatten", 0, "p_hwc", "f")
    b.add_inner_product("dense1", d1_k.T, d1_b, 100, 16, True, "f", "h")
    b.add_activation("relu1", "RELU", "h", "hr")
    b.add_inner_product("dense2", d2_k.T, d2_b, 16, 3, True, "hr", "z")
    b.add_softmax("softmax", "z", "probs")
    b.make_updatable(["dense1", "dense2"])
    quiet(b.set_categorical_cross_entropy_loss, "loss", "probs")
    set_optimizer(b)
    b.set_epochs(3)
    b.set_shuffle(seed=2)
    return b.spec


@pytest.mark.parametrize("set_optimizer", [
    lambda b: b.set_sgd_optimizer(SgdParams(lr=0.05, batch=8, momentum=0.9)),
    lambda b: b.set_adam_optimizer(AdamParams(lr=0.01, batch=8, beta1=0.9, beta2=0.999,
                                              eps=1e-7)),
], ids=["sgd", "adam"])
def test_keras_cnn_last_two_dense_layers_match(set_optimizer):
    """Adam with ``adam_eps="v"``, tf.keras's placement of ε (``v_hat`` measured 58 dB on
    dense1's weights against Keras: ε = 1e-7 matters where gradients are tiny)."""
    model = keras_cnn()
    spec = coreml_from_keras(model, set_optimizer)
    rng = np.random.default_rng(1)
    data = {"image": rng.uniform(0, 1, (24, 1, 12, 12)).astype(np.float32),
            "probs_true": rng.integers(0, 3, (24, 1)).astype(np.int32)}
    held = {"image": rng.uniform(0, 1, (6, 1, 12, 12)).astype(np.float32)}
    trainer = keras_trainer(model, {"dense1": model.get_layer("dense1"),
                                    "dense2": model.get_layer("dense2")},
                            to_source=lambda name, a: a.transpose(1, 2, 0))
    result = check_update(spec, UpdateCheck(data, trainer, held_out=held, adam_eps="v"))
    assert result.passed, result.failure_table()
    curves = result.training["losses"]
    np.testing.assert_allclose(curves["converted"], curves["source"], rtol=1e-4)
