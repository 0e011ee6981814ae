"""Reductions, arg-max/min, top-k, arg-sort and cumulative sum.

Legacy ``reduce`` (axes CHW, HW, C, H, W = −3…−1; dims kept): SUM Σx, AVG Σx/n, PROD Πx,
LOGSUM Σ ln(x + ε) (ε defaults to 1e-6), SUMSQUARE Σx², L1 Σ|x|, L2 √Σx², MAX, MIN, ARGMAX.

ND ``reduce*`` layers (``axes`` or ``reduceAll``; ``keepDims``): L1 Σ|x|, L2 √Σx², Max, Min,
Sum, Prod, Mean, LogSum ln Σx, SumSquare Σx², LogSumExp ln Σeˣ. Reducing every axis without
``keepDims`` yields shape (1,).

Indices (arg-max/min, top-k, arg-sort) are returned as float32, like every blob.
"""

from __future__ import annotations

import torch

from ..registry import register
from ._util import axis_index, scalar_of

_LEGACY_AXES = {0: (-3, -2, -1), 1: (-2, -1), 2: (-3,), 3: (-2,), 4: (-1,)}


@register("reduce")
def reduce_legacy(params, ctx):
    dims = _LEGACY_AXES.get(params.axis)
    if dims is None:
        raise ctx.unsupported(f"reduce axis {params.axis} is not implemented")
    eps = params.epsilon or 1e-6
    mode = params.mode
    if mode == 9:
        if len(dims) != 1:
            raise ctx.error("ARGMAX needs a single axis (C, H or W)")
        d = dims[0]
        return lambda ins: torch.argmax(ins[0], dim=d, keepdim=True).float()
    ops = {
        0: lambda x: x.sum(dim=dims, keepdim=True),
        1: lambda x: x.mean(dim=dims, keepdim=True),
        2: lambda x: _prod(x, dims, True),
        3: lambda x: torch.log(x + eps).sum(dim=dims, keepdim=True),
        4: lambda x: (x * x).sum(dim=dims, keepdim=True),
        5: lambda x: x.abs().sum(dim=dims, keepdim=True),
        6: lambda x: torch.sqrt((x * x).sum(dim=dims, keepdim=True)),
        7: lambda x: x.amax(dim=dims, keepdim=True),
        8: lambda x: x.amin(dim=dims, keepdim=True),
    }
    op = ops.get(mode)
    if op is None:
        raise ctx.unsupported(f"reduce mode {mode} is not implemented")
    return lambda ins: op(ins[0])


def _prod(x: torch.Tensor, dims, keep: bool) -> torch.Tensor:
    out = x
    for d in sorted((axis_index(d, x.dim()) for d in dims), reverse=True):
        out = out.prod(dim=d, keepdim=True)
    if not keep:
        out = out.squeeze(tuple(sorted(axis_index(d, x.dim()) for d in dims)))
    return out


_ND = {
    "reduceL1": lambda x, d, k: x.abs().sum(dim=d, keepdim=k),
    "reduceL2": lambda x, d, k: torch.sqrt((x * x).sum(dim=d, keepdim=k)),
    "reduceMax": lambda x, d, k: x.amax(dim=d, keepdim=k),
    "reduceMin": lambda x, d, k: x.amin(dim=d, keepdim=k),
    "reduceSum": lambda x, d, k: x.sum(dim=d, keepdim=k),
    "reduceProd": lambda x, d, k: _prod(x, d, k),
    "reduceMean": lambda x, d, k: x.mean(dim=d, keepdim=k),
    "reduceLogSum": lambda x, d, k: torch.log(x.sum(dim=d, keepdim=k)),
    "reduceSumSquare": lambda x, d, k: (x * x).sum(dim=d, keepdim=k),
    "reduceLogSumExp": lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k),
}


def _nd_builder(fn):
    def build(params, ctx):
        axes = tuple(int(a) for a in params.axes)
        keep = params.keepDims
        every = params.reduceAll or not axes

        def run(ins):
            x = ins[0]
            dims = tuple(range(x.dim())) if every else axes
            out = fn(x, dims, keep)
            return out if out.dim() else out.reshape(1)
        return run
    return build


for _name, _fn in _ND.items():
    register(_name)(_nd_builder(_fn))


def _arg(fn):
    def build(params, ctx):
        axis, remove = int(params.axis), params.removeDim

        def run(ins):
            x = ins[0]
            out = fn(x, dim=axis, keepdim=not remove or x.dim() == 1).float()
            return out if out.dim() else out.reshape(1)
        return run
    return build


register("argMax")(_arg(torch.argmax))
register("argMin")(_arg(torch.argmin))


@register("topK")
def top_k(params, ctx):
    """Values and indices of the K largest (or, with ``useBottomK``, smallest) along ``axis``,
    ties in index order; K from the second input when present."""
    axis, k_param, bottom = int(params.axis), int(params.K), params.useBottomK

    def run(ins):
        x = ins[0]
        k = int(scalar_of(ins[1])) if len(ins) > 1 else k_param
        values, indices = torch.sort(x, dim=axis, descending=not bottom, stable=True)
        return [values.narrow(axis, 0, k), indices.narrow(axis, 0, k).float()]
    return run


@register("argSort")
def arg_sort(params, ctx):
    axis, descending = int(params.axis), params.descending

    def run(ins):
        return torch.argsort(ins[0], dim=axis, descending=descending, stable=True).float()
    return run


@register("cumSum")
def cum_sum(params, ctx):
    """Cumulative sum along ``axis`` (or the second input); ``reverse`` sums from the end;
    ``excludeFinalSum`` shifts by one (the first output is 0)."""
    axis_p, exclusive, reverse = int(params.axis), params.excludeFinalSum, params.reverse

    def run(ins):
        x = ins[0]
        axis = axis_index(int(scalar_of(ins[1])) if len(ins) > 1 else axis_p, x.dim())
        src = torch.flip(x, [axis]) if reverse else x
        out = torch.cumsum(src, dim=axis)
        if exclusive:
            out = out - src
        return torch.flip(out, [axis]) if reverse else out
    return run
