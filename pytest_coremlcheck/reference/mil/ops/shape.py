"""Shape and data-movement ops: reshape, transpose, concat, split, slices, gather, pad…"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import axis_index, ints, scalar, torch_pad_order


@register("reshape")
def reshape(ins, node):
    x = ins["x"]
    shape = ints(ins["shape"])
    if len(shape) == x.dim():  # 0 copies the input's dimension when ranks agree
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


@register("transpose")
def transpose(ins, node):
    return ins["x"].permute(ints(ins["perm"]))


@register("concat")
def concat(ins, node):
    values = [v for v in ins["values"]]
    axis = int(scalar(ins["axis"]))
    if bool(scalar(ins.get("interleave"), False)):
        stacked = torch.stack(values, dim=axis_index(axis, values[0].dim()) + 1)
        shape = list(values[0].shape)
        shape[axis] = -1
        return stacked.reshape(shape)
    return torch.cat(values, dim=axis)


@register("split")
def split(ins, node):
    x = ins["x"]
    axis = int(scalar(ins["axis"]))
    if ins.get("split_sizes") is not None:
        return torch.split(x, ints(ins["split_sizes"]), dim=axis)
    parts = int(scalar(ins["num_splits"]))
    return torch.chunk(x, parts, dim=axis)


@register("slice_by_index")
def slice_by_index(ins, node):
    x = ins["x"]
    rank = x.dim()
    begin = ints(ins["begin"])
    end = ints(ins["end"])
    stride = ints(ins["stride"]) if ins.get("stride") is not None else [1] * rank
    begin_mask = _mask(ins.get("begin_mask"), rank)
    end_mask = _mask(ins.get("end_mask"), rank)
    squeeze_mask = _mask(ins.get("squeeze_mask"), rank)
    index, squeeze = [], []
    for axis in range(rank):
        s = stride[axis]
        b = None if begin_mask[axis] else begin[axis]
        e = None if end_mask[axis] else end[axis]
        if squeeze_mask[axis]:
            index.append(begin[axis])
            squeeze.append(axis)
            continue
        if s < 0:
            index.append(_negative_slice(x.shape[axis], b, e, s))
        else:
            index.append(slice(b, e, s))
    out = x[tuple(i if isinstance(i, (int, slice)) else i for i in index)]
    return out


def _negative_slice(size, b, e, s):
    """Index tensor for a negative-stride slice (torch slices need positive steps)."""
    start = size - 1 if b is None else (b + size if b < 0 else b)
    stop = -1 if e is None else (e + size if e < 0 else e)
    return torch.arange(min(start, size - 1), stop, s, dtype=torch.long)


def _mask(value, rank):
    if value is None:
        return [False] * rank
    if isinstance(value, torch.Tensor):
        return [bool(v) for v in value.reshape(-1).tolist()]
    return [bool(v) for v in value]


@register("slice_by_size")
def slice_by_size(ins, node):
    x = ins["x"]
    begin, size = ints(ins["begin"]), ints(ins["size"])
    index = []
    for axis, (b, n) in enumerate(zip(begin, size)):
        b = axis_index(b, x.shape[axis])
        index.append(slice(b, x.shape[axis] if n == -1 else b + n))
    return x[tuple(index)]


@register("squeeze")
def squeeze(ins, node):
    x = ins["x"]
    if ins.get("axes") is None:
        return x.squeeze()
    axes = sorted((axis_index(a, x.dim()) for a in ints(ins["axes"])), reverse=True)
    for axis in axes:
        x = x.squeeze(axis)
    return x


@register("expand_dims")
def expand_dims(ins, node):
    x = ins["x"]
    out_rank = x.dim() + len(ints(ins["axes"]))
    for axis in sorted(axis_index(a, out_rank) for a in ints(ins["axes"])):
        x = x.unsqueeze(axis)
    return x


@register("gather")
def gather(ins, node):
    x, indices = ins["x"], ins["indices"]
    axis = axis_index(int(scalar(ins.get("axis"), 0)), x.dim())
    batch_dims = int(scalar(ins.get("batch_dims"), 0))
    idx = indices.long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    if batch_dims == 0:
        out = torch.index_select(x, axis, idx.reshape(-1))
        return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1 :])
    # batched gather: loop over the flattened batch (rare in converted models)
    batch = x.shape[:batch_dims]
    xs = x.reshape((-1,) + x.shape[batch_dims:])
    ids = idx.reshape((-1,) + idx.shape[batch_dims:])
    inner_axis = axis - batch_dims
    parts = []
    for b in range(xs.shape[0]):
        sel = torch.index_select(xs[b], inner_axis, ids[b].reshape(-1))
        parts.append(sel.reshape(xs.shape[1:][:inner_axis] + ids.shape[1:] +
                                 xs.shape[1:][inner_axis + 1 :]))
    out = torch.stack(parts)
    return out.reshape(batch + out.shape[1:])


@register("gather_along_axis")
def gather_along_axis(ins, node):
    x, indices = ins["x"], ins["indices"].long()
    axis = axis_index(int(scalar(ins.get("axis"), 0)), x.dim())
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    return torch.gather(x, axis, indices)


@register("pad")
def pad(ins, node):
    x = ins["x"]
    pads = ints(ins["pad"])
    mode = ins.get("mode", "constant")
    pads = [0] * (2 * x.dim() - len(pads)) + pads
    order = torch_pad_order(pads)
    # drop leading all-zero axes: torch's reflect/replicate pad only the last 1-3 axes
    while len(order) > 2 and order[-1] == 0 and order[-2] == 0:
        order = order[:-2]
    if mode == "constant":
        return F.pad(x, order, value=float(scalar(ins.get("constant_val"), 0.0)))
    torch_mode = {"reflect": "reflect", "replicate": "replicate"}[mode]
    spatial = len(order) // 2
    lead = x.dim() - spatial
    shaped = x.reshape((1, -1) + tuple(x.shape[lead:])) if lead != 2 else x
    out = F.pad(shaped, order, mode=torch_mode)
    return out.reshape(tuple(x.shape[:lead]) + tuple(out.shape[2:]))


@register("crop")
def crop(ins, node):
    x = ins["x"]
    top, bottom = ints(ins["crop_height"])
    left, right = ints(ins["crop_width"])
    h, w = x.shape[-2], x.shape[-1]
    return x[..., top : h - bottom, left : w - right]


@register("tile")
def tile(ins, node):
    return ins["x"].repeat(ints(ins["reps"]))


@register("stack")
def stack(ins, node):
    return torch.stack(list(ins["values"]), dim=int(scalar(ins["axis"])))


@register("flatten2d")
def flatten2d(ins, node):
    x = ins["x"]
    axis = axis_index(int(scalar(ins.get("axis"), 1)), x.dim())
    return x.reshape(int(torch.tensor(x.shape[:axis]).prod()) if axis else 1, -1)


@register("shape")
def shape(ins, node):
    return torch.tensor(ins["x"].shape, dtype=torch.int32)


@register("fill")
def fill(ins, node):
    return torch.full(ints(ins["shape"]), scalar(ins.get("value"), 0.0))


@register("fill_like")
def fill_like(ins, node):
    return torch.full_like(ins["ref_tensor"], scalar(ins.get("value"), 0.0), dtype=torch.float32)


@register("select")
def select(ins, node):
    cond = ins["cond"]
    return torch.where(cond.bool() if isinstance(cond, torch.Tensor) else bool(cond),
                       ins["a"], ins["b"])


@register("range_1d")
def range_1d(ins, node):
    start, end, step = (scalar(ins[k]) for k in ("start", "end", "step"))
    return torch.arange(start, end, step)


@register("depth_to_space")
def depth_to_space(ins, node):
    return F.pixel_shuffle(ins["x"], int(scalar(ins["block_size"])))


@register("pixel_shuffle")
def pixel_shuffle(ins, node):
    return F.pixel_shuffle(ins["x"], int(scalar(ins["upscale_factor"])))


@register("space_to_depth")
def space_to_depth(ins, node):
    return F.pixel_unshuffle(ins["x"], int(scalar(ins["block_size"])))


@register("pixel_unshuffle")
def pixel_unshuffle(ins, node):
    return F.pixel_unshuffle(ins["x"], int(scalar(ins["downscale_factor"])))
