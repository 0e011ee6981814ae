"""Gather and scatter ops.

Indices: up to iOS16 negative values count from the end of their axis. From iOS17 on, the
ops take non-negative indices only (the converter rewrites negative ones); with
``validate_indices`` an index outside ``[0, size)`` is an error, without it the result is
undefined: gathers wrap negative indices and clamp, scatters ignore such updates.

Scatter modes combine ``updates`` into ``data`` at the indexed positions: ``update``
(overwrite), ``add``, ``sub`` (``data − Σ updates``), ``mul`` (``data · Π updates``), ``div``
(``data / Π updates``), ``max``, ``min``. Untouched positions keep ``data``.
"""

from __future__ import annotations

import math

import torch

from ..registry import register
from ._util import axis_index, scalar


def _wrap(indices: torch.Tensor, size) -> torch.Tensor:
    """Indices as int64 with negative values counted from the end (``size`` may broadcast)."""
    idx = indices.to(torch.int64)
    return torch.where(idx < 0, idx + size, idx)


def _strict(node) -> bool:
    """Whether the op's opset takes non-negative indices only (iOS17 and later)."""
    return node is not None and node.opset in ("iOS17", "iOS18")


def _validate(ins, node, indices: torch.Tensor, size) -> None:
    """Raise on an index outside ``[0, size)`` when the op asks for ``validate_indices``."""
    if not (_strict(node) and bool(scalar(ins.get("validate_indices"), False))):
        return
    idx = indices.to(torch.int64)
    bad = (idx < 0) | (idx >= size)
    if bool(bad.any()):
        raise IndexError(f"indices out of bounds: {idx[bad].tolist()[:8]} not in [0, size) "
                         f"for sizes {torch.as_tensor(size).tolist()}")


def _scatter_indices(ins, node, indices: torch.Tensor, size):
    """(indices, valid): negative indices wrap before iOS17; from iOS17 on they are invalid.

    ``valid`` is None when every index is valid."""
    _validate(ins, node, indices, size)
    idx = indices.to(torch.int64)
    if not _strict(node):
        idx = _wrap(idx, size)
    valid = (idx >= 0) & (idx < size)
    return idx, (None if bool(valid.all()) else valid)


# --------------------------------------------------------------------------- gather


@register("gather")
def gather(ins, node):
    """``out[b, p, i, q] = x[b, p, indices[b, i], q]`` (b: ``batch_dims`` leading axes,
    p: the axes before ``axis``, q: the axes after it)."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins.get("axis"), 0)), x.dim())
    batch_dims = int(scalar(ins.get("batch_dims"), 0))
    indices = ins["indices"]
    size = x.shape[axis]
    _validate(ins, node, indices, size)
    if indices.dim() == 0:  # one slice: a view, no copy (the common case in loops)
        i = int(indices)
        return x.select(axis, min(max(i + size if i < 0 else i, 0), size - 1))
    idx = _wrap(indices, size).clamp(0, size - 1)
    if batch_dims == 0:
        out = torch.index_select(x, axis, idx.reshape(-1))
        return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])
    batch = tuple(x.shape[:batch_dims])
    flat_b = math.prod(batch)
    xb = x.reshape((flat_b,) + tuple(x.shape[batch_dims:]))
    ib = idx.reshape((flat_b,) + tuple(idx.shape[batch_dims:]))
    inner = axis - batch_dims  # number of p axes
    moved = xb.movedim(1 + inner, 1)  # [B, A, p..., q...]
    rows = torch.arange(flat_b).reshape((flat_b,) + (1,) * (ib.dim() - 1))
    picked = moved[rows, ib]  # [B, i..., p..., q...]
    n_i = ib.dim() - 1
    order = [0] + list(range(1 + n_i, 1 + n_i + inner)) + list(range(1, 1 + n_i)) + list(
        range(1 + n_i + inner, picked.dim()))
    out = picked.permute(order)
    return out.reshape(batch + tuple(out.shape[1:]))


@register("gather_along_axis")
def gather_along_axis(ins, node):
    """``out[p, i, q] = x[p, indices[p, i, q], q]`` (``torch.gather``)."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins.get("axis"), 0)), x.dim())
    _validate(ins, node, ins["indices"], x.shape[axis])
    index = _wrap(ins["indices"], x.shape[axis]).clamp(0, x.shape[axis] - 1)
    return torch.gather(x, axis, index)


def _nd_linear(indices: torch.Tensor, shape) -> torch.Tensor:
    """Row-major linear index into ``shape`` of the last-axis index tuples of ``indices``."""
    k = indices.shape[-1]
    sizes = torch.tensor(list(shape[:k]), dtype=torch.int64)
    idx = torch.minimum(_wrap(indices, sizes).clamp(min=0), sizes - 1)
    strides = [math.prod(shape[i + 1:k]) for i in range(k)]
    return (idx * torch.tensor(strides, dtype=torch.int64)).sum(-1)


@register("gather_nd")
def gather_nd(ins, node):
    """``out[b, i] = x[b, indices[b, i]]``: each last-axis tuple of ``indices`` addresses
    the first ``indices.shape[-1]`` axes of ``x`` after its ``batch_dims`` batch axes."""
    x = ins["x"]
    indices = ins["indices"]
    batch_dims = int(scalar(ins.get("batch_dims"), 0))
    k = indices.shape[-1]
    _validate(ins, node, indices, torch.tensor(list(x.shape[batch_dims:batch_dims + k])))
    batch = tuple(x.shape[:batch_dims])
    flat_b = math.prod(batch)
    addressed = tuple(x.shape[batch_dims:batch_dims + k])
    rest = tuple(x.shape[batch_dims + k:])
    table = x.reshape((flat_b * math.prod(addressed),) + rest)
    ib = indices.reshape((flat_b, -1, k))
    lin = _nd_linear(ib, addressed) + torch.arange(flat_b).reshape(-1, 1) * math.prod(addressed)
    out = table[lin.reshape(-1)]
    return out.reshape(tuple(indices.shape[:-1]) + rest)


# --------------------------------------------------------------------------- scatter


def _scatter_dim(data, dim, index, updates, mode):
    """Combine ``updates`` into ``data`` along ``dim`` at ``index`` (same shape as updates)."""
    if mode == "update":
        return data.scatter(dim, index, updates)
    if mode == "add":
        return data.scatter_add(dim, index, updates)
    if mode == "sub":
        return data.scatter_add(dim, index, -updates)
    if mode in ("max", "min"):
        return data.scatter_reduce(dim, index, updates, "amax" if mode == "max" else "amin")
    if mode == "mul":
        return data.scatter_reduce(dim, index, updates, "prod")
    if mode == "div":
        product = torch.ones_like(data).scatter_reduce(dim, index, updates, "prod")
        return _divide(data, product)
    raise ValueError(f"unknown scatter mode {mode!r}")


def _divide(data, divisor):
    if data.is_floating_point():
        return data / divisor
    return torch.div(data, divisor, rounding_mode="trunc")


def _scatter_safely(data, dim, index, valid, updates, mode):
    """``_scatter_dim`` where updates at invalid indices go to a scratch slot and are dropped."""
    if valid is None:
        return _scatter_dim(data, dim, index, updates, mode)
    size = data.shape[dim]
    pad_shape = list(data.shape)
    pad_shape[dim] = 1
    padded = torch.cat([data, torch.zeros(pad_shape, dtype=data.dtype)], dim=dim)
    index = torch.where(valid, index, torch.full_like(index, size))
    return _scatter_dim(padded, dim, index, updates, mode).narrow(dim, 0, size)


@register("scatter_along_axis")
def scatter_along_axis(ins, node):
    """``out[p, indices[p, i, q], q] (mode)= updates[p, i, q]``."""
    data = ins["data"]
    axis = axis_index(int(scalar(ins.get("axis"), 0)), data.dim())
    index, valid = _scatter_indices(ins, node, ins["indices"], data.shape[axis])
    updates = ins["updates"].to(data.dtype)
    return _scatter_safely(data, axis, index, valid, updates, ins.get("mode") or "add")


@register("scatter")
def scatter(ins, node):
    """``out[p, indices[i], q] (mode)= updates[p, i, q]``; multi-axis ``indices`` (with the
    matching axes in ``updates``) are flattened first."""
    data = ins["data"]
    axis = axis_index(int(scalar(ins.get("axis"), 0)), data.dim())
    index, valid = _scatter_indices(ins, node, ins["indices"].reshape(-1), data.shape[axis])
    shape = tuple(data.shape[:axis]) + (index.numel(),) + tuple(data.shape[axis + 1:])
    updates = ins["updates"].to(data.dtype).reshape(shape)
    view = [1] * data.dim()
    view[axis] = -1
    index = index.reshape(view).expand(updates.shape)
    if valid is not None:
        valid = valid.reshape(view).expand(updates.shape)
    return _scatter_safely(data, axis, index, valid, updates, ins.get("mode") or "add")


@register("scatter_nd")
def scatter_nd(ins, node):
    """``out[indices[i]] (mode)= updates[i]``: each last-axis tuple of ``indices`` addresses
    the leading ``indices.shape[-1]`` axes of ``data``."""
    data = ins["data"]
    indices = ins["indices"]
    mode = ins.get("mode") or "add"
    k = indices.shape[-1]
    addressed = tuple(data.shape[:k])
    rest = tuple(data.shape[k:])
    table = data.reshape((math.prod(addressed),) + rest)
    flat, valid = _scatter_indices(ins, node, indices.reshape(-1, k),
                                   torch.tensor(list(addressed), dtype=torch.int64))
    lin = _nd_linear(flat, addressed)
    updates = ins["updates"].to(data.dtype).reshape((lin.numel(),) + rest)
    view = (-1,) + (1,) * len(rest)
    index = lin.reshape(view).expand(updates.shape)
    if valid is not None:
        valid = valid.all(-1).reshape(view).expand(updates.shape)
    return _scatter_safely(table, 0, index, valid, updates, mode).reshape(data.shape)
