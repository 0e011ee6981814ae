"""Normalisation layers: batchnorm (and instance norm), MVN, L2, LRN, softmax, layer norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import as_batched, restore


@register("batchnorm")
def batchnorm(params, ctx):
    """y = γ_c·(x − μ_c)/√(σ²_c + ε) + β_c along axis −3; ε defaults to 1e-5.

    With ``computeMeanVar`` the statistics come from the input: per instance and channel over
    (H, W) when ``instanceNormalization`` (instance norm), else per channel over every other
    axis; variances are population variances.
    """
    c = int(params.channels)
    eps = params.epsilon or 1e-5
    gamma = ctx.weights(params.gamma, (c,), "gamma").reshape(c, 1, 1)
    beta = ctx.weights(params.beta, (c,), "beta").reshape(c, 1, 1)
    if params.computeMeanVar:
        instance = params.instanceNormalization

        def run(ins):
            x = ins[0]
            if instance:
                dims = (-2, -1)
            else:
                dims = tuple(d for d in range(-x.dim(), 0) if d != -3)
            var, mean = torch.var_mean(x, dim=dims, keepdim=True, correction=0)
            return (x - mean) * torch.rsqrt(var + eps) * gamma + beta
        return run
    mean = ctx.weights(params.mean, (c,), "mean").reshape(c, 1, 1)
    var = ctx.weights(params.variance, (c,), "variance").reshape(c, 1, 1)
    scale = gamma / torch.sqrt(var + eps)
    shift = beta - mean * scale
    return lambda ins: torch.addcmul(shift, ins[0], scale)


@register("mvn")
def mvn(params, ctx):
    """y = (x − mean)/√(var + ε) (or only x − mean without ``normalizeVariance``), statistics
    over (C, H, W) when ``acrossChannels`` else over (H, W); ε defaults to 1e-6."""
    dims = (-3, -2, -1) if params.acrossChannels else (-2, -1)
    eps = params.epsilon or 1e-6
    normalize = params.normalizeVariance

    def run(ins):
        x = ins[0]
        if not normalize:
            return x - x.mean(dim=dims, keepdim=True)
        var, mean = torch.var_mean(x, dim=dims, keepdim=True, correction=0)
        return (x - mean) / torch.sqrt(var + eps)
    return run


@register("l2normalize")
def l2normalize(params, ctx):
    """y = x / √(Σ_{C,H,W} x² + ε); ε defaults to 1e-6."""
    eps = params.epsilon or 1e-6

    def run(ins):
        x = ins[0]
        dims = tuple(range(-min(3, x.dim()), 0))
        return x * torch.rsqrt((x * x).sum(dim=dims, keepdim=True) + eps)
    return run


@register("lrn")
def lrn(params, ctx):
    """y_c = x_c / (k + α/n · Σ_{j ∈ window(c)} x_j²)^β, a window of n = ``localSize`` channels
    centred on c (⌊n/2⌋ before, ⌊(n−1)/2⌋ after); k defaults to 1."""
    size = int(params.localSize)
    alpha, beta = params.alpha, params.beta
    k = params.k or 1.0
    if size < 1:
        raise ctx.error(f"localSize must be at least 1, got {size}")

    def run(ins):
        x, lead = as_batched(ins[0], 3)
        y = F.local_response_norm(x, size, alpha=alpha, beta=beta, k=k)
        return restore(y, lead, 3, ins[0].dim())
    return run


@register("softmax")
def softmax(params, ctx):
    """Softmax along axis −3 (the channel axis)."""
    return lambda ins: torch.softmax(ins[0], dim=-3 if ins[0].dim() >= 3 else 0)


@register("softmaxND")
def softmax_nd(params, ctx):
    """Softmax along ``axis`` (negative values count from the end)."""
    axis = int(params.axis)
    return lambda ins: torch.softmax(ins[0], dim=axis)


@register("layerNormalization")
def layer_normalization(params, ctx):
    """y = γ·(x − mean)/√(var + ε) + β, statistics over the last len(normalizedShape) axes."""
    shape = [int(d) for d in params.normalizedShape]
    gamma = ctx.optional_weights(params.gamma, shape, "gamma")
    beta = ctx.optional_weights(params.beta, shape, "beta")
    eps = params.eps
    return lambda ins: F.layer_norm(ins[0], shape, gamma, beta, eps)
