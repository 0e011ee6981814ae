"""Shape and data-movement ops: reshape, transpose, concat, split, slices, pad, tile, the
space/depth/batch rearrangements, reverse and sliding windows."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import axis_index, ints, scalar

# --------------------------------------------------------------------------- reshape


@register("reshape", versions=("iOS15", "iOS16"))
def reshape(ins, node):
    """``shape`` with ``-1`` inferred; ``0`` copies ``x.shape[i]`` when ``len(shape) == rank``."""
    x = ins["x"]
    shape = ints(ins["shape"])
    if len(shape) == x.dim():
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


@register("reshape", versions=("iOS17", "iOS18"))
def reshape_ios17(ins, node):
    """``0`` matches ``x``'s dimension counted from the right (1 when out of range)."""
    x = ins["x"]
    shape = ints(ins["shape"])
    n, rank = len(shape), x.dim()
    out = []
    for i, d in enumerate(shape):
        if d == 0:
            j = rank - (n - i)
            d = x.shape[j] if 0 <= j < rank else 1
        out.append(d)
    return x.reshape(out)


@register("reshape_like")
def reshape_like(ins, node):
    """Output shape: concat of ``ref_tensors[i].shape[begins[i]:ends[i]]`` (to the end with
    ``end_masks[i]``)."""
    shape = []
    for ref, begin, end, mask in zip(ins["ref_tensors"], ins["begins"], ins["ends"],
                                     ins["end_masks"]):
        dims = list(ref.shape)
        b = int(scalar(begin))
        shape += dims[b:] if bool(scalar(mask)) else dims[b:int(scalar(end))]
    return ins["x"].reshape(shape)


@register("transpose")
def transpose(ins, node):
    x = ins["x"]
    return x.permute([axis_index(p, x.dim()) for p in ints(ins["perm"])])


@register("squeeze")
def squeeze(ins, node):
    """Remove size-1 axes (all of them without ``axes``; listed axes not of size 1 stay)."""
    x = ins["x"]
    if ins.get("axes") is None:
        return x.squeeze()
    axes = sorted((axis_index(a, x.dim()) for a in ints(ins["axes"])), reverse=True)
    for axis in axes:
        x = x.squeeze(axis)
    return x


@register("expand_dims")
def expand_dims(ins, node):
    """Insert size-1 axes at ``axes`` (indices into the output's rank)."""
    x = ins["x"]
    out_rank = x.dim() + len(ints(ins["axes"]))
    for axis in sorted(axis_index(a, out_rank) for a in ints(ins["axes"])):
        x = x.unsqueeze(axis)
    return x


@register("flatten2d")
def flatten2d(ins, node):
    """``[prod(shape[:axis]), prod(shape[axis:])]``."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins.get("axis"), 1)), x.dim())
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@register("shape")
def shape(ins, node):
    return torch.tensor(list(ins["x"].shape), dtype=torch.int32)


# --------------------------------------------------------------------------- join / split


@register("concat")
def concat(ins, node):
    """Concatenate along ``axis``; ``interleave`` alternates slices of the inputs instead."""
    values = [v.reshape(1) if v.dim() == 0 else v for v in ins["values"]]  # scalars as [1]
    axis = axis_index(int(scalar(ins["axis"])), values[0].dim())
    if bool(scalar(ins.get("interleave"), False)):
        stacked = torch.stack(values, dim=axis + 1)
        shape = list(values[0].shape)
        shape[axis] = -1
        return stacked.reshape(shape)
    return torch.cat(values, dim=axis)


@register("stack")
def stack(ins, node):
    values = list(ins["values"])
    return torch.stack(values, dim=axis_index(int(scalar(ins["axis"])), values[0].dim() + 1))


@register("split")
def split(ins, node):
    """``split_sizes`` pieces along ``axis``, or ``num_splits`` equal pieces."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins["axis"])), x.dim())
    if ins.get("split_sizes") is not None:
        return tuple(torch.split(x, ints(ins["split_sizes"]), dim=axis))
    parts = int(scalar(ins["num_splits"]))
    return tuple(torch.split(x, x.shape[axis] // parts, dim=axis))


# --------------------------------------------------------------------------- slicing


def _mask(value, rank):
    if value is None:
        return [False] * rank
    if isinstance(value, torch.Tensor):
        return [bool(v) for v in value.reshape(-1).tolist()]
    return [bool(v) for v in value]


def _slice_index(x, ins, node):
    """The numpy-style index of ``slice_by_index`` / ``slice_update`` and the squeezed axes.

    Per axis: ``x[begin:end:stride]`` (Python semantics, negative values from the end),
    ``begin_mask`` / ``end_mask`` leave that bound open, ``squeeze_mask`` picks ``begin``.
    Stride and masks, constants by the ops' definitions, are converted once per op
    (``node.memo``).
    """
    rank = x.dim()
    begin, end = ints(ins["begin"]), ints(ins["end"])
    parts = node.memo.get("slice")
    if parts is None or parts[0] != rank:
        stride = ints(ins["stride"]) if ins.get("stride") is not None else [1] * rank
        parts = (rank, stride, _mask(ins.get("begin_mask"), rank),
                 _mask(ins.get("end_mask"), rank), _mask(ins.get("squeeze_mask"), rank))
        node.memo["slice"] = parts
    _, stride, begin_mask, end_mask, squeeze_mask = parts
    index, squeezed = [], []
    for axis in range(rank):
        size = x.shape[axis]
        if squeeze_mask[axis]:
            index.append(axis_index(begin[axis], size))
            squeezed.append(axis)
            continue
        b = None if begin_mask[axis] else begin[axis]
        e = None if end_mask[axis] else end[axis]
        start, stop, step = slice(b, e, stride[axis]).indices(size)
        if step > 0:
            index.append(slice(start, stop, step))
        else:
            index.append(torch.arange(start, stop, step, dtype=torch.int64))
    return index, squeezed


def _apply_index(x, index):
    """Index with slices, ints and (at most a few) index tensors: slices and ints in one
    basic indexing (a view), index tensors one axis at a time."""
    if all(isinstance(item, (int, slice)) for item in index):
        return x[tuple(index)]
    out = x
    dim = 0
    for item in index:
        if isinstance(item, int):
            out = out.select(dim, item)
            continue
        if isinstance(item, slice):
            out = out[(slice(None),) * dim + (item,)]
        else:
            out = out.index_select(dim, item)
        dim += 1
    return out


@register("slice_by_index")
def slice_by_index(ins, node):
    x = ins["x"]
    index, _ = _slice_index(x, ins, node)
    return _apply_index(x, index)


@register("slice_by_size")
def slice_by_size(ins, node):
    """``x[begin : begin + size]`` per axis; ``size = -1`` runs to the end."""
    x = ins["x"]
    begin, size = ints(ins["begin"]), ints(ins["size"])
    index = []
    for axis, (b, n) in enumerate(zip(begin, size)):
        b = axis_index(b, x.shape[axis])
        index.append(slice(b, x.shape[axis] if n == -1 else b + n))
    return x[tuple(index)]


@register("slice_update")
def slice_update(ins, node):
    """A copy of ``x`` with ``x[slice_by_index(...)] = update``; ``x`` itself, changed, when
    nothing sees its old values (``Node.writes_state``; a recording keeps copies)."""
    x = ins["x"]
    index, squeezed = _slice_index(x, ins, node)
    update = ins["update"].to(x.dtype)
    if all(isinstance(item, (int, slice)) for item in index):  # a strided view: copy into it
        out = x if node.writes_state else x.clone()
        view = out[tuple(index)]
        view.copy_(update.reshape(view.shape))
        return out
    # positions of the slice in x, as a flat index, in the slice's own order
    positions = torch.arange(x.numel()).reshape(x.shape)
    picked = _apply_index(positions, index)
    out = x.clone().reshape(-1)
    out[picked.reshape(-1)] = update.reshape(picked.shape).reshape(-1)
    return out.reshape(x.shape)


@register("crop")
def crop(ins, node):
    """Remove ``crop_height = [top, bottom]`` rows and ``crop_width = [left, right]`` columns."""
    x = ins["x"]
    top, bottom = ints(ins["crop_height"])
    left, right = ints(ins["crop_width"])
    h, w = x.shape[-2], x.shape[-1]
    return x[..., top : h - bottom, left : w - right]


# --------------------------------------------------------------------------- pad / tile


def _pad_index(size: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Source positions of a padded axis: ``reflect`` mirrors without the edge, ``replicate``
    repeats it."""
    pos = torch.arange(-before, size + after)
    if mode == "replicate":
        return pos.clamp(0, size - 1)
    if size == 1:
        return torch.zeros_like(pos)
    period = 2 * (size - 1)
    pos = torch.remainder(pos, period)
    return torch.where(pos >= size, period - pos, pos)


@register("pad")
def pad(ins, node):
    """Pad the last ``len(pad) / 2`` axes: ``pad[2i]`` before and ``pad[2i+1]`` after axis i.

    ``constant`` fills ``constant_val``; ``reflect`` mirrors (edge excluded); ``replicate``
    repeats the edge.
    """
    x = ins["x"]
    pads = ints(ins["pad"])
    mode = ins.get("mode") or "constant"
    pads = [0] * (2 * x.dim() - len(pads)) + pads
    if mode == "constant":
        order = [p for i in reversed(range(x.dim())) for p in pads[2 * i : 2 * i + 2]]
        return F.pad(x, order, value=float(scalar(ins.get("constant_val"), 0.0)))
    out = x
    for axis in range(x.dim()):
        before, after = pads[2 * axis], pads[2 * axis + 1]
        if before or after:
            out = out.index_select(axis, _pad_index(x.shape[axis], before, after, mode))
    return out


@register("tile")
def tile(ins, node):
    x = ins["x"]
    reps = ints(ins["reps"])
    return x.repeat(reps) if len(reps) >= x.dim() else x.repeat([1] * (x.dim() - len(reps))
                                                                 + reps)


@register("fill")
def fill(ins, node):
    return torch.full(ints(ins["shape"]), scalar(ins.get("value"), 0.0))


@register("fill_like")
def fill_like(ins, node):
    return torch.full(tuple(ins["ref_tensor"].shape), scalar(ins.get("value"), 0.0))


@register("range_1d")
def range_1d(ins, node):
    """``[start, start + step, …)`` up to (excluding) ``end``."""
    start, end, step = (scalar(ins[k]) for k in ("start", "end", "step"))
    return torch.arange(start, end, step)


# --------------------------------------------------------------------------- space / depth


@register("depth_to_space")
def depth_to_space(ins, node):
    """TensorFlow (DCR) order: ``out[n, c, h·b + i, w·b + j] = x[n, (i·b + j)·C' + c, h, w]``."""
    x = ins["x"]
    b = int(scalar(ins["block_size"]))
    n, c, h, w = x.shape
    out = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    return out.reshape(n, c // (b * b), h * b, w * b)


@register("space_to_depth")
def space_to_depth(ins, node):
    """Inverse of ``depth_to_space``:
    ``out[n, (i·b + j)·C + c, h, w] = x[n, c, h·b + i, w·b + j]``."""
    x = ins["x"]
    b = int(scalar(ins["block_size"]))
    n, c, h, w = x.shape
    out = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return out.reshape(n, c * b * b, h // b, w // b)


@register("pixel_shuffle")
def pixel_shuffle(ins, node):
    """PyTorch (CRD) order: ``out[n, c, h·f + i, w·f + j] = x[n, c·f² + i·f + j, h, w]``."""
    return F.pixel_shuffle(ins["x"], int(scalar(ins["upscale_factor"])))


@register("pixel_unshuffle")
def pixel_unshuffle(ins, node):
    return F.pixel_unshuffle(ins["x"], int(scalar(ins["downscale_factor"])))


@register("space_to_batch")
def space_to_batch(ins, node):
    """Pad H, W by ``paddings``, then move each (i, j) offset of a ``block_shape`` block to the
    batch: ``out[(i·b1 + j)·n + k, c, h, w] = padded[k, c, h·b0 + i, w·b1 + j]``."""
    x = ins["x"]
    b0, b1 = ints(ins["block_shape"])
    (t, bo), (le, r) = ins["paddings"].reshape(2, 2).tolist()
    x = F.pad(x, [le, r, t, bo])
    n, c, h, w = x.shape
    out = x.reshape(n, c, h // b0, b0, w // b1, b1).permute(3, 5, 0, 1, 2, 4)
    return out.reshape(b0 * b1 * n, c, h // b0, w // b1)


@register("batch_to_space")
def batch_to_space(ins, node):
    """Inverse of ``space_to_batch``, then remove ``crops`` from H and W."""
    x = ins["x"]
    b0, b1 = ints(ins["block_shape"])
    (t, bo), (le, r) = ins["crops"].reshape(2, 2).tolist()
    nb, c, h, w = x.shape
    n = nb // (b0 * b1)
    out = x.reshape(b0, b1, n, c, h, w).permute(2, 3, 4, 0, 5, 1).reshape(n, c, h * b0, w * b1)
    return out[:, :, t : h * b0 - bo, le : w * b1 - r]


# --------------------------------------------------------------------------- reverse / windows


@register("reverse")
def reverse(ins, node):
    x = ins["x"]
    axes = ins.get("axes")
    dims = list(range(x.dim())) if axes is None else [axis_index(a, x.dim()) for a in ints(axes)]
    return torch.flip(x, dims) if dims else x


@register("reverse_sequence")
def reverse_sequence(ins, node):
    """For each batch entry b, reverse the first ``lengths[b]`` elements along ``seq_axis``."""
    x = ins["x"]
    seq_axis = axis_index(int(scalar(ins.get("seq_axis"), 0)), x.dim())
    batch_axis = axis_index(int(scalar(ins.get("batch_axis"), 0)), x.dim())
    lengths = ins["lengths"].to(torch.int64).reshape(-1, 1)
    t = torch.arange(x.shape[seq_axis]).reshape(1, -1)
    source = torch.where(t < lengths, lengths - 1 - t, t)  # [batch, seq]
    if batch_axis > seq_axis:
        source = source.T
    view = [1] * x.dim()
    view[batch_axis] = x.shape[batch_axis]
    view[seq_axis] = x.shape[seq_axis]
    return torch.gather(x, seq_axis, source.reshape(view).expand(x.shape))


@register("sliding_windows")
def sliding_windows(ins, node):
    """``out[..., k, s, ...] = x[..., k·stride + s, ...]``: windows of ``size`` along ``axis``."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins["axis"])), x.dim())
    size = int(scalar(ins["size"]))
    stride = int(scalar(ins.get("stride"), 1))
    return torch.movedim(x.unfold(axis, size, stride), -1, axis + 1)
