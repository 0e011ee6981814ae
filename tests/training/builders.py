"""Small updatable models built as the book does, with coremltools' builders."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network.update_optimizer_utils import AdamParams, SgdParams

RNG = np.random.default_rng(7)
W1 = RNG.normal(size=(3, 4)).astype(np.float32)
B1 = RNG.normal(size=3).astype(np.float32)
W2 = RNG.normal(size=(2, 3)).astype(np.float32)
B2 = RNG.normal(size=2).astype(np.float32)


def quiet(fn, *args, **kwargs):
    """Run a builder call without its 'Now adding input …' print."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def classifier(trainable=("dense2",), optimizer=None, epochs=1):
    """x[4] → dense1(3) → ReLU → dense2(2) → softmax, cross-entropy on the softmax."""
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("probs", datatypes.Array(2))])
    b.add_inner_product("dense1", W1, B1, 4, 3, True, "x", "h")
    b.add_activation("relu", "RELU", "h", "hr")
    b.add_inner_product("dense2", W2, B2, 3, 2, True, "hr", "z")
    b.add_softmax("softmax", "z", "probs")
    b.make_updatable(list(trainable))
    quiet(b.set_categorical_cross_entropy_loss, "loss", "probs")
    b.set_sgd_optimizer(optimizer or SgdParams(lr=0.1, batch=2, momentum=0.0)) \
        if not isinstance(optimizer, AdamParams) else b.set_adam_optimizer(optimizer)
    b.set_epochs(epochs, allowed_set=[1, 2, 3, 5, 10])
    return b.spec


def regressor(optimizer=None):
    """x[4] → dense(2) (updatable), mean squared error on its output."""
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", datatypes.Array(2))])
    b.add_inner_product("head", W2 @ W1 * 0.5, B2, 4, 2, True, "x", "y")
    b.make_updatable(["head"])
    quiet(b.set_mean_squared_error_loss, "mse", ("y", datatypes.Array(2)))
    b.set_sgd_optimizer(optimizer or SgdParams(lr=0.05, batch=3, momentum=0.0))
    b.set_epochs(1)
    return b.spec
