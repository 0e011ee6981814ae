"""Normalisation ops: batch, instance, layer, L2 and local response normalisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import axis_index, ints, scalar


@register("batch_norm")
def batch_norm(ins, node):
    x = ins["x"]
    eps = scalar(ins.get("epsilon"), 1e-5)
    return F.batch_norm(x, ins["mean"], ins["variance"], ins.get("gamma"), ins.get("beta"),
                        False, 0.0, eps)


@register("instance_norm")
def instance_norm(ins, node):
    x = ins["x"]
    eps = scalar(ins.get("epsilon"), 1e-5)
    return F.instance_norm(x, weight=ins.get("gamma"), bias=ins.get("beta"), eps=eps)


@register("layer_norm")
def layer_norm(ins, node):
    x = ins["x"]
    eps = scalar(ins.get("epsilon"), 1e-5)
    axes = ints(ins["axes"]) if ins.get("axes") is not None else list(range(x.dim()))
    axes = sorted(axis_index(a, x.dim()) for a in axes)
    gamma, beta = ins.get("gamma"), ins.get("beta")
    if axes == list(range(x.dim() - len(axes), x.dim())):
        return F.layer_norm(x, x.shape[x.dim() - len(axes):], gamma, beta, eps)
    mean = x.mean(dim=axes, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    out = (x - mean) / torch.sqrt(var + eps)
    shape = [x.shape[i] if i in axes else 1 for i in range(x.dim())]
    if gamma is not None:
        out = out * gamma.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out


@register("l2_norm")
def l2_norm(ins, node):
    """``x / sqrt(Σ x² + ε)`` over the last three axes (all axes for rank ≤ 3), per batch."""
    x = ins["x"]
    eps = scalar(ins.get("epsilon"), 1e-6)
    axes = list(range(max(x.dim() - 3, 0), x.dim()))
    return x / torch.sqrt((x * x).sum(dim=axes, keepdim=True) + eps)


@register("local_response_norm")
def local_response_norm(ins, node):
    """``x_c / (k + α/size · Σ x_j²)^β``, j over channels ``c − h .. c + h``, h = (size − 1) // 2.

    The window is symmetric: for an even ``size`` it holds size − 1 channels (size 2: the
    channel alone), where PyTorch's holds ``size`` (c − size/2 .. c + size/2 − 1)."""
    x = ins["x"]
    size = int(scalar(ins["size"]))
    alpha = scalar(ins.get("alpha"), 1e-4)
    beta = scalar(ins.get("beta"), 0.75)
    k = scalar(ins.get("k"), 1.0)
    half = (size - 1) // 2
    squares = (x * x).reshape(x.shape[0], 1, x.shape[1], -1)
    window = F.avg_pool2d(F.pad(squares, [0, 0, half, half]), (2 * half + 1, 1), 1)
    sums = (window * (2 * half + 1)).reshape(x.shape)
    return x / (k + alpha / size * sums) ** beta
