"""Small torch models with random weights, converted with ``convert_to="neuralnetwork"`` and run
by the reference executor, compared with the torch forward."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_coremlcheck.reference import ReferenceModel

from .helpers import assert_matches_torch, convert_nn, reference_outputs, torch_outputs


class Fn(nn.Module):
    """A module wrapping a function of its inputs (and optional submodules)."""

    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            setattr(self, name, module)

    def forward(self, *xs):
        return self.fn(self, *xs)


def seeded(factory):
    torch.manual_seed(0)
    return factory()


def img(c=3, h=12, w=12, n=1):
    torch.manual_seed(1)
    return torch.randn(n, c, h, w)


CONV_CASES = {
    "conv_same": lambda: nn.Conv2d(3, 8, 3, padding=1),
    "conv_valid_stride": lambda: nn.Conv2d(3, 6, 5, stride=2),
    "conv_grouped": lambda: nn.Conv2d(4, 8, 3, padding=1, groups=2),
    "conv_depthwise": lambda: nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),
    "conv_dilated": lambda: nn.Conv2d(3, 4, 3, padding=2, dilation=2),
    "conv_asymmetric_kernel": lambda: nn.Conv2d(3, 4, (1, 5), padding=(0, 2)),
    "deconv": lambda: nn.ConvTranspose2d(3, 5, 3, stride=2),
    "deconv_padded": lambda: nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1),
    "deconv_output_padding": lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1,
                                                        output_padding=1),
    "deconv_grouped": lambda: nn.ConvTranspose2d(4, 6, 3, stride=1, groups=2),
}


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_convolutions(name):
    model = seeded(CONV_CASES[name])
    channels = model.in_channels
    assert_matches_torch(model, img(c=channels))


def test_conv1d_and_conv3d():
    conv1 = seeded(lambda: nn.Conv1d(3, 5, 3, padding=1))
    torch.manual_seed(2)
    assert_matches_torch(conv1, torch.randn(1, 3, 16))
    conv3 = seeded(lambda: nn.Conv3d(2, 3, 3, padding=1))
    assert_matches_torch(conv3, torch.randn(1, 2, 4, 6, 6))


POOL_CASES = {
    "max": lambda: nn.MaxPool2d(2),
    "max_padded": lambda: nn.MaxPool2d(3, stride=2, padding=1),
    "max_ceil": lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True),
    "avg": lambda: nn.AvgPool2d(2),
    "avg_padded_exclude": lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    "avg_padded_include": lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=True),
    "global_avg": lambda: nn.AdaptiveAvgPool2d(1),
    "global_max": lambda: nn.AdaptiveMaxPool2d(1),
}


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_pooling(name):
    assert_matches_torch(POOL_CASES[name](), img(h=11, w=11))


ACTIVATIONS = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "leaky": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU,
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "hardsigmoid": nn.Hardsigmoid,
    "softplus": nn.Softplus, "softsign": nn.Softsign, "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "prelu": lambda: nn.PReLU(3, 0.3),
    "hardtanh": lambda: nn.Hardtanh(-0.5, 0.7), "silu": nn.SiLU, "selu": nn.SELU,
    "hardswish": nn.Hardswish, "mish": nn.Mish,
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations(name):
    assert_matches_torch(seeded(ACTIVATIONS[name]), img(h=5, w=5) * 3)


NORM_CASES = {
    "batchnorm": lambda: nn.BatchNorm2d(3),
    "instancenorm": lambda: nn.InstanceNorm2d(3, affine=True),
    "instancenorm_plain": lambda: nn.InstanceNorm2d(3),
    "layernorm": lambda: nn.LayerNorm([12]),
    "layernorm_2d": lambda: nn.LayerNorm([12, 12]),
    "groupnorm": lambda: nn.GroupNorm(1, 3),
}


@pytest.mark.parametrize("name", sorted(NORM_CASES))
def test_normalisation(name):
    model = seeded(NORM_CASES[name])
    if isinstance(model, nn.BatchNorm2d):
        with torch.no_grad():
            model.running_mean.uniform_(-1, 1)
            model.running_var.uniform_(0.5, 2)
            model.weight.uniform_(0.5, 1.5)
            model.bias.uniform_(-1, 1)
    assert_matches_torch(model, img(), atol=2e-4)


PAD_CASES = {
    "reflection": lambda: nn.ReflectionPad2d((1, 2, 2, 1)),
    "replication": lambda: nn.ReplicationPad2d(2),
    "zero": lambda: nn.ZeroPad2d((0, 1, 2, 3)),
    "constant": lambda: nn.ConstantPad2d(1, 0.5),
    "constant_channels": lambda: Fn(lambda m, x: F.pad(x, (1, 1, 0, 0, 2, 1), value=-1.0)),
}


@pytest.mark.parametrize("name", sorted(PAD_CASES))
def test_padding(name):
    assert_matches_torch(PAD_CASES[name](), img(h=6, w=7))


RESIZE_CASES = {
    "nearest_2x": lambda: nn.Upsample(scale_factor=2, mode="nearest"),
    "nearest_3x2": lambda: nn.Upsample(scale_factor=(3, 2), mode="nearest"),
    "bilinear_align": lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
    "bilinear_half_pixel": lambda: nn.Upsample(scale_factor=2, mode="bilinear",
                                               align_corners=False),
    "bilinear_size": lambda: nn.Upsample(size=(9, 15), mode="bilinear", align_corners=True),
    "pixel_shuffle": lambda: nn.PixelShuffle(2),
}


@pytest.mark.parametrize("name", sorted(RESIZE_CASES))
def test_resize(name):
    channels = 4 if name == "pixel_shuffle" else 3
    assert_matches_torch(RESIZE_CASES[name](), img(c=channels, h=5, w=6))


SHAPE_CASES = {
    "flatten_linear": (lambda: Fn(lambda m, x: m.fc(torch.flatten(x, 1)),
                                  fc=nn.Linear(3 * 4 * 5, 7)), (1, 3, 4, 5)),
    "permute": (lambda: Fn(lambda m, x: x.permute(0, 2, 3, 1) * 2), (1, 3, 4, 5)),
    "transpose_reshape": (lambda: Fn(lambda m, x: x.transpose(1, 2).reshape(1, -1, 5)),
                          (1, 3, 4, 5)),
    "squeeze_unsqueeze": (lambda: Fn(lambda m, x: x.squeeze(0).unsqueeze(-1) + 1),
                          (1, 3, 4, 5)),
    "cat_split": (lambda: Fn(lambda m, x: torch.cat(torch.split(x, [1, 2], dim=1)[::-1], 1)),
                  (1, 3, 4, 5)),
    "chunk_stack": (lambda: Fn(lambda m, x: torch.stack(torch.chunk(x, 2, dim=3), dim=0)),
                    (1, 3, 4, 6)),
    "slice_strided": (lambda: Fn(lambda m, x: x[:, 1:, ::2, 1:-1]), (1, 3, 6, 7)),
    "expand_tile": (lambda: Fn(lambda m, x: x.expand(2, 3, 4, 5) + x.repeat(2, 1, 1, 1)),
                    (1, 3, 4, 5)),
    "flip": (lambda: Fn(lambda m, x: torch.flip(x, [2, 3])), (1, 3, 4, 5)),
    "softmax_axes": (lambda: Fn(lambda m, x: (torch.softmax(x, 1), torch.log_softmax(x, -1))),
                     (1, 3, 4, 5)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_layers(name):
    factory, shape = SHAPE_CASES[name]
    torch.manual_seed(3)
    assert_matches_torch(seeded(factory), torch.randn(*shape))


ARITH_CASES = {
    "broadcast": lambda m, a, b: (a + b) * (a - b) / (b.abs() + 1),
    "pow_minmax": lambda m, a, b: torch.maximum(a, b) + torch.minimum(a, b) ** 2,
    "compare_where": lambda m, a, b: torch.where(a > b, a, b * 0.5) + (a <= b).float(),
    "floor_div_mod": lambda m, a, b: torch.floor_divide(a, b.abs() + 1) + torch.remainder(a, 2),
    "unary": lambda m, a, b: torch.exp(a.clamp(-3, 3)) + torch.sqrt(b.abs()) + torch.sin(a)
    + torch.floor(b) + torch.ceil(a) + torch.sign(b) + torch.erf(a) + torch.rsqrt(b.abs() + 1),
    "reductions": lambda m, a, b: (a.sum(-1), a.mean((1, 2)), a.amax(1), a.amin(-1),
                                   torch.logsumexp(a, -1), a.norm(dim=-1),
                                   a.argmax(-1).float()),
    "matmul": lambda m, a, b: torch.matmul(a, b.transpose(-1, -2)),
    "topk_cumsum": lambda m, a, b: (torch.topk(a, 2, dim=-1)[0], torch.cumsum(b, dim=1)),
}


@pytest.mark.parametrize("name", sorted(ARITH_CASES))
def test_arithmetic(name):
    torch.manual_seed(4)
    a, b = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert_matches_torch(Fn(ARITH_CASES[name]), a, b, atol=2e-4)


def test_gather_and_embedding():
    emb = seeded(lambda: nn.Embedding(10, 6))
    ids = torch.tensor([[1, 4, 9, 0]], dtype=torch.int64)
    mlmodel = convert_nn(emb, ids)
    got = reference_outputs(mlmodel, ids)[0]
    np.testing.assert_allclose(got, torch_outputs(emb, ids)[0], atol=1e-6)
    gather = Fn(lambda m, x: torch.gather(x, 1, torch.tensor([[2, 0, 1], [1, 1, 0]])))
    torch.manual_seed(5)
    assert_matches_torch(gather, torch.randn(2, 3))


RNN_CASES = {
    "lstm": lambda: nn.LSTM(6, 8, batch_first=True),
    "lstm_bidirectional": lambda: nn.LSTM(6, 5, batch_first=True, bidirectional=True),
    "lstm_two_layers": lambda: nn.LSTM(6, 4, num_layers=2),
    "gru": lambda: nn.GRU(6, 7),
    "rnn_tanh": lambda: nn.RNN(6, 5),
}


@pytest.mark.parametrize("name", sorted(RNN_CASES))
def test_recurrent(name):
    rnn = seeded(RNN_CASES[name])
    model = Fn(lambda m, x: m.rnn(x)[0], rnn=rnn)
    torch.manual_seed(6)
    x = torch.randn(1, 5, 6) if rnn.batch_first else torch.randn(5, 1, 6)
    assert_matches_torch(model, x, atol=2e-4)


def test_lstm_with_initial_states():
    lstm = seeded(lambda: nn.LSTM(4, 6))
    model = Fn(lambda m, x, h, c: m.lstm(x, (h, c)), lstm=lstm)
    torch.manual_seed(7)
    x, h, c = torch.randn(3, 1, 4), torch.randn(1, 1, 6), torch.randn(1, 1, 6)
    mlmodel = convert_nn(model, x, h, c)
    expected = torch_outputs(Fn(lambda m, x, h, c: (lambda o: (o[0], *o[1]))(m.lstm(x, (h, c))),
                                lstm=lstm), x, h, c)
    got = reference_outputs(mlmodel, x, h, c)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.reshape(e.shape), e, atol=2e-4)


def test_ios13_target_and_cnn_classifier_block():
    model = seeded(lambda: nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, groups=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 10), nn.Softmax(dim=-1)))
    assert_matches_torch(model, img(h=16, w=16), target=ct.target.iOS13)


def test_fp16_precision_rounds_and_is_reported():
    model = seeded(lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(8, 4, 3, padding=1)))
    x = img()
    mlmodel = convert_nn(model, x)
    fp32 = ReferenceModel(mlmodel)
    fp16 = ReferenceModel(mlmodel, nn_precision="fp16")
    assert fp32.platform == "reference executor, neuralnetwork fp32"
    assert fp16.platform == "reference executor, neuralnetwork fp16"
    assert (fp32.precision, fp16.precision) == ("fp32", "fp16")
    expected = torch_outputs(model, x)[0]
    out32 = fp32.predict({"x0": x.numpy()})
    out16 = fp16.predict({"x0": x.numpy()})
    (y32,), (y16,) = out32.values(), out16.values()
    np.testing.assert_allclose(y32, expected, atol=1e-4)
    np.testing.assert_allclose(y16, expected, atol=5e-2, rtol=1e-2)
    assert np.abs(y16 - expected).max() > np.abs(y32 - expected).max()
    assert np.array_equal(y16, y16.astype(np.float16).astype(np.float32))


def test_image_input_conversion_with_scale_and_bias():
    from PIL import Image

    model = seeded(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    inputs = [ct.ImageType(name="image", shape=(1, 3, 8, 8), scale=1 / 127.5,
                           bias=[-1.0, -0.5, 0.0], color_layout=ct.colorlayout.BGR)]
    mlmodel = convert_nn(model, torch.rand(1, 3, 8, 8), inputs=inputs)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    bgr = pixels[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)
    x = bgr / 127.5 + np.array([-1.0, -0.5, 0.0], dtype=np.float32).reshape(1, 3, 1, 1)
    expected = torch_outputs(model, torch.from_numpy(x))[0]
    out = ReferenceModel(mlmodel).predict({"image": image})
    np.testing.assert_allclose(next(iter(out.values())), expected, atol=1e-4)


def test_classifier_conversion_returns_label_and_probabilities():
    model = seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Softmax(-1)))
    labels = ["cat", "dog", "owl"]
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.rand(1, 3, 2, 2))
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 2, 2))],
                         classifier_config=ct.ClassifierConfig(labels),
                         convert_to="neuralnetwork", minimum_deployment_target=ct.target.iOS14)
    x = torch.rand(1, 3, 2, 2)
    probs = torch_outputs(model, x)[0][0]
    spec = mlmodel.get_spec()
    out = ReferenceModel(mlmodel).predict({"x": x.numpy()})
    label_name = spec.description.predictedFeatureName
    prob_name = spec.description.predictedProbabilitiesName
    assert out[label_name] == labels[int(np.argmax(probs))]
    assert set(out[prob_name]) == set(labels)
    np.testing.assert_allclose([out[prob_name][k] for k in labels], probs, atol=1e-5)
