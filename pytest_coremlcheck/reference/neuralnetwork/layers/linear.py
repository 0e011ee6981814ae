"""Fully connected layers, batched matmul and embeddings.

``innerProduct``: y = W·x + b with W of shape [C_out, C_in]. Input rank r is read as a matrix:
r 1 → (C_in), r 2 → (x1, C_in), r 3 → (x1·x2, C_in), r 4 → (x1, x2·x3·x4),
r 5 → (x1·x2, x3·x4·x5); the output keeps the rank: (C_out), (x1, C_out), (x1, x2, C_out),
(x1, C_out, 1, 1), (x1, x2, C_out, 1, 1). With ``int8DynamicQuantize`` the input is quantized
per tensor, symmetric, to int8 (``s = max|x|/127``, ``x ← round(x/s)·s``) before the product.

``batchedMatmul``: two inputs → numpy-style ``matmul(a, b)`` of the (optionally transposed) last
two axes, a 1-D ``a`` read as (1, D) and a 1-D ``b`` as (D, 1), so the output has rank
≥ 2; one input → ``x·W + b`` with W stored as [X2, X1] (column-major [X1, X2]).

``embedding``: input indices (x1, 1, 1, 1) or (x1, x2, 1, 1, 1), W [C_out, inputDim];
y[..., :, 0, 0] = W[:, index] + b. ``embeddingND``: indices (..., 1), W [embeddingSize,
vocabSize]; y[..., :] = W[:, index] + b.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register


def _quantize_input(x: torch.Tensor) -> torch.Tensor:
    scale = x.abs().max() / 127.0
    if float(scale) == 0.0:
        return x
    return torch.clamp(torch.round(x / scale), -127, 127) * scale


@register("innerProduct")
def inner_product(params, ctx):
    c_in, c_out = int(params.inputChannels), int(params.outputChannels)
    weight = ctx.trainable("weights", ctx.weights(params.weights, (c_out, c_in), "weights"))
    bias = ctx.trainable("bias", ctx.weights(params.bias, (c_out,), "bias")
                         if params.hasBias else None)
    dynamic = params.int8DynamicQuantize

    def run(ins):
        x = ins[0]
        shape = x.shape
        rank = x.dim()
        if dynamic:
            x = _quantize_input(x)
        if rank <= 3:
            return F.linear(x, weight, bias)
        if rank == 4:
            y = F.linear(x.reshape(shape[0], -1), weight, bias)
            return y.reshape(shape[0], c_out, 1, 1)
        y = F.linear(x.reshape(shape[0] * shape[1], -1), weight, bias)
        return y.reshape(*shape[: rank - 3], c_out, 1, 1)
    return run


@register("batchedMatmul")
def batched_matmul(params, ctx):
    if ctx.n_inputs >= 2:
        ta, tb = params.transposeA, params.transposeB

        def run2(ins):
            a, b = ins[0], ins[1]
            if a.dim() == 1:
                a = a.reshape(1, -1)
            if b.dim() == 1:
                b = b.reshape(-1, 1)
            if ta:
                a = a.transpose(-1, -2)
            if tb:
                b = b.transpose(-1, -2)
            return torch.matmul(a, b)
        return run2
    x1, x2 = int(params.weightMatrixFirstDimension), int(params.weightMatrixSecondDimension)
    weight = ctx.weights(params.weights, (x2, x1), "weights")
    bias = ctx.weights(params.bias, (x2,), "bias") if params.hasBias else None
    dynamic = params.int8DynamicQuantize

    def run1(ins):
        x = _quantize_input(ins[0]) if dynamic else ins[0]
        return F.linear(x, weight, bias)
    return run1


@register("embedding")
def embedding(params, ctx):
    c_out, dim = int(params.outputChannels), int(params.inputDim)
    table = ctx.weights(params.weights, (c_out, dim), "weights").t().contiguous()
    bias = ctx.weights(params.bias, (c_out,), "bias") if params.hasBias else None

    def run(ins):
        x = ins[0]
        idx = x.reshape(-1).to(torch.int64)
        _check_range(idx, dim, ctx)
        y = F.embedding(idx, table)
        if bias is not None:
            y = y + bias
        lead = x.shape[:-3]
        return y.reshape(*lead, c_out, 1, 1)
    return run


@register("embeddingND")
def embedding_nd(params, ctx):
    size, vocab = int(params.embeddingSize), int(params.vocabSize)
    table = ctx.weights(params.weights, (size, vocab), "weights").t().contiguous()
    bias = ctx.weights(params.bias, (size,), "bias") if params.hasBias else None

    def run(ins):
        x = ins[0]
        idx = x.reshape(x.shape[:-1]).to(torch.int64) if x.dim() > 1 else x.to(torch.int64)
        _check_range(idx, vocab, ctx)
        y = F.embedding(idx, table)
        return y + bias if bias is not None else y
    return run


def _check_range(idx: torch.Tensor, size: int, ctx) -> None:
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= size):
        raise IndexError(f"indices must be in [0, {size - 1}], got values in "
                         f"[{int(idx.min())}, {int(idx.max())}]")
