"""An MNIST-style CNN in torch and the same network built as an updatable NeuralNetwork with
coremltools' NeuralNetworkBuilder, weights copied from torch (as the book builds its
personalisation models)."""

from __future__ import annotations

import numpy as np
import torch
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from .builders import quiet


class SmallCNN(torch.nn.Module):
    """image [1, 12, 12] → conv 3×3 (4) → ReLU → max-pool 2 → flatten → dense 16 → ReLU →
    dense 3 → softmax."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.fc1 = torch.nn.Linear(100, 16)
        self.fc2 = torch.nn.Linear(16, 3)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        x = torch.relu(self.fc1(x.flatten(1)))
        return torch.softmax(self.fc2(x), dim=-1)


def _np(t):
    return t.detach().numpy().astype(np.float32)


def cnn_spec(model: SmallCNN, trainable, set_optimizer, epochs=3):
    b = NeuralNetworkBuilder([("image", datatypes.Array(1, 12, 12))],
                             [("probs", datatypes.Array(3))])
    b.add_convolution("conv", kernel_channels=1, output_channels=4, height=3, width=3,
                      stride_height=1, stride_width=1, border_mode="valid", groups=1,
                      W=_np(model.conv.weight).transpose(2, 3, 1, 0), b=_np(model.conv.bias),
                      has_bias=True, input_name="image", output_name="c")
    b.add_activation("relu0", "RELU", "c", "cr")
    b.add_pooling("pool", height=2, width=2, stride_height=2, stride_width=2, layer_type="MAX",
                  padding_type="VALID", input_name="cr", output_name="p")
    b.add_flatten("flatten", 0, "p", "f")
    b.add_inner_product("fc1", _np(model.fc1.weight), _np(model.fc1.bias), 100, 16, True,
                        "f", "h")
    b.add_activation("relu1", "RELU", "h", "hr")
    b.add_inner_product("fc2", _np(model.fc2.weight), _np(model.fc2.bias), 16, 3, True,
                        "hr", "z")
    b.add_softmax("softmax", "z", "probs")
    b.make_updatable(list(trainable))
    quiet(b.set_categorical_cross_entropy_loss, "loss", "probs")
    set_optimizer(b)
    b.set_epochs(epochs, allowed_set=[1, 2, 3, 5])
    b.set_shuffle(seed=4)
    return b.spec


def cnn_data(n=24, seed=1):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, size=(n, 1, 12, 12)).astype(np.float32)
    return {"image": images, "probs_true": rng.integers(0, 3, size=(n, 1)).astype(np.int32)}
