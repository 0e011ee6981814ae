"""Activation ops (torch.nn.functional where it matches MIL's definition)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import axis_index, scalar


@register("relu")
def relu(ins, node):
    return torch.relu(ins["x"])


@register("relu6")
def relu6(ins, node):
    return torch.clamp(ins["x"], 0.0, 6.0)


@register("sigmoid")
def sigmoid(ins, node):
    return torch.sigmoid(ins["x"])


@register("silu")
def silu(ins, node):
    return F.silu(ins["x"])


@register("gelu")
def gelu(ins, node):
    x = ins["x"]
    mode = ins.get("mode", "EXACT")
    if mode == "TANH_APPROXIMATION":
        return F.gelu(x, approximate="tanh")
    if mode == "SIGMOID_APPROXIMATION":
        return x * torch.sigmoid(1.702 * x)
    return F.gelu(x)


@register("leaky_relu")
def leaky_relu(ins, node):
    return F.leaky_relu(ins["x"], scalar(ins.get("alpha"), 0.01))


@register("elu")
def elu(ins, node):
    return F.elu(ins["x"], scalar(ins.get("alpha"), 1.0))


@register("prelu")
def prelu(ins, node):
    x, alpha = ins["x"], ins["alpha"]
    shape = [1, -1] + [1] * (x.dim() - 2)
    return torch.where(x >= 0, x, x * alpha.reshape(shape))


@register("softplus")
def softplus(ins, node):
    return F.softplus(ins["x"])


@register("softplus_parametric")
def softplus_parametric(ins, node):
    x = ins["x"]
    shape = [1, -1] + [1] * (x.dim() - 2)
    alpha, beta = ins["alpha"].reshape(shape), ins["beta"].reshape(shape)
    return alpha * F.softplus(beta * x)  # log(1 + e^z), linear above z = 20


@register("softsign")
def softsign(ins, node):
    return F.softsign(ins["x"])


@register("sigmoid_hard")
def sigmoid_hard(ins, node):
    alpha, beta = scalar(ins.get("alpha"), 0.2), scalar(ins.get("beta"), 0.5)
    return torch.clamp(alpha * ins["x"] + beta, 0.0, 1.0)


@register("scaled_tanh")
def scaled_tanh(ins, node):
    return scalar(ins.get("alpha"), 1.0) * torch.tanh(scalar(ins.get("beta"), 1.0) * ins["x"])


@register("linear_activation")
def linear_activation(ins, node):
    return scalar(ins["alpha"]) * ins["x"] + scalar(ins.get("beta"), 0.0)


@register("thresholded_relu")
def thresholded_relu(ins, node):
    """``x`` where ``x >= alpha``, else 0."""
    x = ins["x"]
    return torch.where(x >= scalar(ins.get("alpha"), 1.0), x, torch.zeros_like(x))


@register("clamped_relu")
def clamped_relu(ins, node):
    x = ins["x"]
    alpha, beta = scalar(ins["alpha"]), scalar(ins["beta"])
    return torch.clamp(torch.where(x >= 0, x, alpha * x), max=beta)


@register("softmax")
def softmax(ins, node):
    x = ins["x"]
    return torch.softmax(x, axis_index(int(scalar(ins.get("axis"), -1)), x.dim()))


@register("log_softmax")
def log_softmax(ins, node):
    x = ins["x"]
    return torch.log_softmax(x, axis_index(int(scalar(ins.get("axis"), -1)), x.dim()))


