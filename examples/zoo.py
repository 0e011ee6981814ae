"""A small zoo of realistic conversions: builders for the source models and their
``ct.convert`` arguments. Weights are random (seeded); nothing is downloaded."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 64
VOCAB = 1000
SEQ_LEN = 32


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class Classifier(nn.Module):
    """A small ResNet-style image classifier (10 classes), softmax output."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(32), nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(32), nn.MaxPool2d(2), ResidualBlock(32))
        self.head = nn.Linear(32, classes)

    def forward(self, image):
        x = self.blocks(self.stem(image))
        return torch.softmax(self.head(x.mean(dim=(2, 3))), dim=-1)


class StyleTransfer(nn.Module):
    """A fast-style-transfer-shaped net: reflection pads, instance norm, residuals,
    nearest upsampling; outputs RGB pixel values in [0, 255]."""

    def __init__(self):
        super().__init__()

        def conv(cin, cout, k, stride=1):
            return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride),
                                 nn.InstanceNorm2d(cout, affine=True), nn.ReLU())

        self.down = nn.Sequential(conv(3, 16, 9), conv(16, 32, 3, 2))
        self.res = nn.Sequential(*[ResidualBlock(32) for _ in range(2)])
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv(32, 16, 3))
        self.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(16, 3, 9))

    def forward(self, image):
        return torch.sigmoid(self.out(self.up(self.res(self.down(image))))) * 255.0


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        split = lambda z: z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        attn = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """A two-layer transformer encoder over token ids; returns a pooled embedding."""

    def __init__(self, dim: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, dim)
        self.positions = nn.Parameter(torch.randn(1, SEQ_LEN, dim) * 0.02)
        self.layers = nn.Sequential(*[EncoderLayer(dim, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, token_ids):
        x = self.layers(self.tokens(token_ids) + self.positions)
        return self.norm(x).mean(dim=1)


class SequenceTagger(nn.Module):
    """An LSTM over feature frames with a per-frame linear head."""

    def __init__(self, features: int = 20, hidden: int = 64, tags: int = 8):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, tags)

    def forward(self, frames):
        out, _ = self.lstm(frames)
        return self.head(out)


def _randomize_norms(model: nn.Module) -> nn.Module:
    """Give batch-norm layers non-trivial running statistics (as a trained model has)."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
    return model.eval()


def classifier() -> nn.Module:
    torch.manual_seed(0)
    return _randomize_norms(Classifier())


def style_transfer() -> nn.Module:
    torch.manual_seed(0)
    return _randomize_norms(StyleTransfer())


def text_encoder() -> nn.Module:
    torch.manual_seed(0)
    return TextEncoder().eval()


def sequence_tagger() -> nn.Module:
    torch.manual_seed(0)
    return SequenceTagger().eval()


def classifier_convert(scale: float = 1 / 255, **kw) -> dict:
    """``ct.convert`` arguments: an RGB image input scaled to [0, 1]."""
    return dict(inputs=[ct.ImageType(name="image", shape=(1, 3, IMAGE_SIZE, IMAGE_SIZE),
                                     scale=scale, color_layout=ct.colorlayout.RGB)],
                outputs=[ct.TensorType(name="probabilities")], **kw)


def style_transfer_convert(**kw) -> dict:
    """``ct.convert`` arguments: image in (scaled to [0, 1]), image out (0–255)."""
    kw.setdefault("minimum_deployment_target", ct.target.iOS16)
    return dict(inputs=[ct.ImageType(name="image", shape=(1, 3, IMAGE_SIZE, IMAGE_SIZE),
                                     scale=1 / 255, color_layout=ct.colorlayout.RGB)],
                outputs=[ct.ImageType(name="stylized", color_layout=ct.colorlayout.RGB)], **kw)


def text_encoder_convert(**kw) -> dict:
    return dict(inputs=[ct.TensorType(name="token_ids", shape=(1, SEQ_LEN), dtype=np.int32)],
                outputs=[ct.TensorType(name="embedding")], **kw)


def sequence_tagger_convert(**kw) -> dict:
    return dict(inputs=[ct.TensorType(name="frames", shape=(1, 50, 20))],
                outputs=[ct.TensorType(name="tags")], **kw)


class SuperResolution(nn.Module):
    """An ESPCN-style x2 super-resolution net (pixel shuffle); outputs pixels in [0, 255]."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.Tanh(),
                                  nn.Conv2d(32, 16, 3, padding=1), nn.Tanh(),
                                  nn.Conv2d(16, 3 * scale * scale, 3, padding=1))
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, image):
        return torch.sigmoid(self.shuffle(self.body(image))) * 255.0


def super_resolution() -> nn.Module:
    torch.manual_seed(0)
    return SuperResolution().eval()


def super_resolution_convert(**kw) -> dict:
    """A flexible input size (32–128 px per side, default 64) and an image output."""
    kw.setdefault("minimum_deployment_target", ct.target.iOS16)
    kw.setdefault("compute_precision", ct.precision.FLOAT32)
    side = ct.RangeDim(lower_bound=32, upper_bound=128, default=IMAGE_SIZE)
    return dict(inputs=[ct.ImageType(name="image", shape=(1, 3, side, side), scale=1 / 255)],
                outputs=[ct.ImageType(name="upscaled")], **kw)


class FeatureExtractor(nn.Module):
    """Image → 64-d embedding: a shared backbone several heads (pipelines) can link to."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.ReLU(),
                                 ResidualBlock(32), nn.Conv2d(32, 64, 3, stride=2, padding=1),
                                 nn.ReLU())

    def forward(self, image):
        return self.net(image).mean(dim=(2, 3))


class ClassifierHead(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, classes))

    def forward(self, embedding):
        return torch.softmax(self.fc(embedding), dim=-1)


def feature_extractor() -> nn.Module:
    torch.manual_seed(0)
    return _randomize_norms(FeatureExtractor())


def classifier_head() -> nn.Module:
    torch.manual_seed(1)
    return ClassifierHead().eval()
