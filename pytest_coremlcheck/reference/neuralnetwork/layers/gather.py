"""Indexing layers: gather/scatter (by axis, ND, along axis), one-hot, masks and band parts.

Indices arrive as float blobs; negative indices count from the end of their axis.
Scatter modes (``ScatterMode``): UPDATE (replace), ADD, SUB, MUL, DIV, MAX, MIN applied as
``out[i] = out[i] ∘ update``, one update after another in index order (the proto's loop), so a
repeated index under UPDATE keeps its last update (torch's ``index_copy`` leaves that order
undefined).
"""

from __future__ import annotations

import math

import torch

from ..registry import register
from ._util import axis_index, scalar_of

_UPDATE, _ADD, _SUB, _MUL, _DIV, _MAX, _MIN = range(7)


def _wrap(idx: torch.Tensor, size: int) -> torch.Tensor:
    idx = idx.to(torch.int64)
    return torch.where(idx < 0, idx + size, idx)


@register("gather")
def gather(params, ctx):
    """out = data[..., indices, ...] along ``axis``; shape data[:axis] + indices + data[axis+1:]."""
    axis = int(params.axis)

    def run(ins):
        data, indices = ins[0], ins[1]
        a = axis_index(axis, data.dim())
        idx = _wrap(indices.reshape(-1), data.shape[a])
        out = data.index_select(a, idx)
        return out.reshape(*data.shape[:a], *indices.shape, *data.shape[a + 1:])
    return run


def _reduce_into(out: torch.Tensor, dim: int, idx: torch.Tensor, upd: torch.Tensor,
                 mode: int) -> torch.Tensor:
    if mode == _UPDATE:
        idx, upd = _last_writes(idx, upd, dim)
        return out.index_copy(dim, idx, upd)
    if mode == _ADD:
        return out.index_add(dim, idx, upd)
    if mode == _SUB:
        return out.index_add(dim, idx, -upd)
    if mode == _MUL:
        return out.index_reduce(dim, idx, upd, "prod")
    if mode == _DIV:
        return out.index_reduce(dim, idx, 1.0 / upd, "prod")
    if mode == _MAX:
        return out.index_reduce(dim, idx, upd, "amax")
    if mode == _MIN:
        return out.index_reduce(dim, idx, upd, "amin")
    raise ValueError(f"unknown scatter mode {mode}")


def _last_writes(idx: torch.Tensor, upd: torch.Tensor, dim: int):
    """Indices and updates without repeated indices, each index keeping its last update."""
    if idx.unique().numel() == idx.numel():
        return idx, upd
    last = {v: i for i, v in enumerate(idx.tolist())}
    keep = torch.tensor(sorted(last.values()), dtype=torch.int64)
    return idx.index_select(0, keep), upd.index_select(dim, keep)


@register("scatter")
def scatter(params, ctx):
    """out = data; out[..., indices[i], ...] ∘= updates[..., i, ...] along ``axis``."""
    axis, mode = int(params.axis), int(params.mode)

    def run(ins):
        data, indices, updates = ins
        a = axis_index(axis, data.dim())
        idx = _wrap(indices.reshape(-1), data.shape[a])
        upd = updates.reshape(*data.shape[:a], idx.numel(), *data.shape[a + 1:])
        return _reduce_into(data.clone(), a, idx, upd, mode)
    return run


@register("gatherND")
def gather_nd(params, ctx):
    """out[i…] = data[indices[i…, 0], …, indices[i…, K−1], …]."""
    def run(ins):
        data, indices = ins[0], ins[1]
        k = indices.shape[-1]
        idx = indices.reshape(-1, k)
        cols = tuple(_wrap(idx[:, j], data.shape[j]) for j in range(k))
        out = data[cols].reshape(tuple(indices.shape[:-1]) + tuple(data.shape[k:]))
        return out if out.dim() else out.reshape(1)
    return run


@register("scatterND")
def scatter_nd(params, ctx):
    """out = data; out[indices[i…]] ∘= updates[i…] (slices of rank data.rank − K)."""
    mode = int(params.mode)

    def run(ins):
        data, indices, updates = ins
        k = indices.shape[-1]
        idx = indices.reshape(-1, k)
        lead = data.shape[:k]
        linear = torch.zeros(idx.shape[0], dtype=torch.int64)
        for j in range(k):
            linear = linear * lead[j] + _wrap(idx[:, j], lead[j])
        flat = data.reshape(math.prod(lead), *data.shape[k:]).clone()
        upd = updates.reshape(idx.shape[0], *data.shape[k:])
        return _reduce_into(flat, 0, linear, upd, mode).reshape(data.shape)
    return run


@register("gatherAlongAxis")
def gather_along_axis(params, ctx):
    axis = int(params.axis)

    def run(ins):
        data, indices = ins[0], ins[1]
        a = axis_index(axis, data.dim())
        return torch.gather(data, a, _wrap(indices, data.shape[a]))
    return run


_SCATTER_REDUCE = {_MUL: "prod", _MAX: "amax", _MIN: "amin"}


@register("scatterAlongAxis")
def scatter_along_axis(params, ctx):
    axis, mode = int(params.axis), int(params.mode)

    def run(ins):
        data, indices, updates = ins
        a = axis_index(axis, data.dim())
        idx = _wrap(indices, data.shape[a])
        if mode == _UPDATE:
            return data.scatter(a, idx, updates)
        if mode == _ADD:
            return data.scatter_add(a, idx, updates)
        if mode == _SUB:
            return data.scatter_add(a, idx, -updates)
        if mode == _DIV:
            return data.scatter_reduce(a, idx, 1.0 / updates, "prod")
        return data.scatter_reduce(a, idx, updates, _SCATTER_REDUCE[mode])
    return run


@register("oneHot")
def one_hot(params, ctx):
    """A new axis ``axis`` of length ``oneHotVectorSize`` (or the second input) holding
    ``onValue`` at the index and ``offValue`` elsewhere (all off for out-of-range indices)."""
    depth_p, axis = int(params.oneHotVectorSize), int(params.axis)
    on, off = params.onValue, params.offValue

    def run(ins):
        indices = ins[0]
        depth = int(scalar_of(ins[1])) if len(ins) > 1 else depth_p
        idx = indices.to(torch.int64)
        a = axis_index(axis, indices.dim() + 1)
        classes = torch.arange(depth).reshape([-1] + [1] * (indices.dim() - a))
        hit = idx.unsqueeze(a) == classes
        return torch.where(hit, torch.tensor(on), torch.tensor(off)).to(torch.float32)
    return run


@register("whereNonZero")
def where_non_zero(params, ctx):
    """Coordinates of the non-zero elements, shape (N, rank)."""
    return lambda ins: torch.nonzero(ins[0]).float()


@register("matrixBandPart")
def matrix_band_part(params, ctx):
    """Keep x[…, m, n] where (lower < 0 or m − n ≤ lower) and (upper < 0 or n − m ≤ upper)."""
    lower, upper = int(params.numLower), int(params.numUpper)

    def run(ins):
        x = ins[0]
        m = torch.arange(x.shape[-2]).reshape(-1, 1)
        n = torch.arange(x.shape[-1]).reshape(1, -1)
        keep = torch.ones(x.shape[-2], x.shape[-1], dtype=torch.bool)
        if lower >= 0:
            keep &= (m - n) <= lower
        if upper >= 0:
            keep &= (n - m) <= upper
        return torch.where(keep, x, torch.zeros((), dtype=x.dtype))
    return run


@register("lowerTriangular")
def lower_triangular(params, ctx):
    k = int(params.k)
    return lambda ins: torch.tril(ins[0], k)


@register("upperTriangular")
def upper_triangular(params, ctx):
    k = int(params.k)
    return lambda ins: torch.triu(ins[0], k)
