"""Shared builders: small torch models with random weights and their conversions."""

from __future__ import annotations

from pathlib import Path

import coremltools as ct
import torch
from torch import nn

FIXTURES = Path(__file__).parent.parent / "fixtures"
IMAGES = FIXTURES / "images"


class TinyConvNet(nn.Module):
    """conv → relu → global mean → linear → softmax, on (1, 3, 32, 32)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return torch.softmax(self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))), dim=-1)


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 4)
        self.b = nn.Linear(6, 3)

    def forward(self, x, y):
        return self.a(x), self.b(y) * 2.0


def tiny_conv_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return TinyConvNet().eval()


def two_outputs(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return TwoOutputs().eval()


def convert_image_model(model, *, scale=1 / 255, precision=ct.precision.FLOAT32, size=32):
    traced = torch.jit.trace(model, torch.rand(1, 3, size, size))
    return ct.convert(traced, inputs=[ct.ImageType(name="image", shape=(1, 3, size, size),
                                                   scale=scale)],
                      outputs=[ct.TensorType(name="probs")], convert_to="mlprogram",
                      compute_precision=precision, skip_model_load=True)
