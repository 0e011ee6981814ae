"""Data reorganisation: the legacy rank-5 layers and the ND reshape/concat/split/slice family.

Legacy layers read axes as ``[Seq, Batch, C, H, W]`` (−5 … −1): ``reshape`` (per Seq/Batch
item, CHANNEL_FIRST or CHANNEL_LAST order), ``flatten`` (to [..., C·H·W, 1, 1]), ``permute``
(a permutation of (Seq, C, H, W) keeping Batch), ``concat`` (axis −3, or −5 with
``sequenceConcat``), ``split`` (equal parts along −3), ``slice`` (Python ``[start:end:stride]``
along −3, −2 or −1), ``sequenceRepeat`` (tile along −5).

ND layers follow numpy: ``transpose``, ``squeeze`` (rank never below 1), ``expandDims``,
``flattenTo2D``, ``reshapeStatic``/``Like``/``Dynamic`` and ``rankPreservingReshape`` (0 copies
the input dimension, −1 is inferred), ``concatND`` (optionally interleaved), ``splitND``
(uneven splits give the first parts one more element, like ``numpy.array_split``),
``sliceStatic``/``sliceDynamic`` (begin/end ids with masks, strides, squeeze masks),
``sliceBySize``, ``tile``, ``stack``, ``reverse``, ``reverseSeq``, ``slidingWindows``,
``getShape``, constants, fills, broadcasts and ranges.
"""

from __future__ import annotations

import math

import torch

from ..registry import register
from ._util import axis_index, ints_of, scalar_of


def _resolve_shape(target: list[int], x_shape, copy_zeros: bool = True) -> list[int]:
    """A target shape with 0 (copy the input dimension) and −1 (inferred) resolved."""
    shape = list(target)
    if copy_zeros:
        for i, d in enumerate(shape):
            if d == 0 and i < len(x_shape):
                shape[i] = int(x_shape[i])
    return shape


# --------------------------------------------------------------------------- legacy (rank 5)


@register("reshape")
def reshape(params, ctx):
    target = [int(v) for v in params.targetShape]
    if len(target) not in (3, 4):
        raise ctx.error(f"targetShape must have 3 or 4 values, got {target}")
    channel_last = params.mode == 1

    def chw_reshape(items: torch.Tensor, out_chw: list[int]) -> torch.Tensor:
        """(N, C, H, W) items reshaped to (N, *out_chw) in the layer's order."""
        n = items.shape[0]
        if not channel_last:
            return items.reshape(n, *out_chw)
        c, h, w = out_chw
        flat = items.permute(0, 2, 3, 1).reshape(n, -1)
        return flat.reshape(n, h, w, c).permute(0, 3, 1, 2)

    def run(ins):
        x = ins[0]
        if len(target) == 3:
            lead = x.shape[:-3]
            y = chw_reshape(x.reshape(-1, *x.shape[-3:]), target)
            return y.reshape(*lead, *y.shape[1:])
        x5 = x.reshape((1,) * (5 - x.dim()) + tuple(x.shape)) if x.dim() < 5 else x
        s, b = x5.shape[0], x5.shape[1]
        seq_out = target[0]
        per_b = x5.transpose(0, 1)  # (B, S, C, H, W)
        if not channel_last:
            y = per_b.reshape(b, seq_out, *target[1:])
        else:
            c, h, w = target[1:]
            flat = per_b.permute(0, 1, 3, 4, 2).reshape(b, -1)
            y = flat.reshape(b, seq_out, h, w, c).permute(0, 1, 4, 2, 3)
        del s
        return y.transpose(0, 1)
    return run


@register("flatten")
def flatten(params, ctx):
    channel_last = params.mode == 1

    def run(ins):
        x = ins[0]
        lead = x.shape[:-3]
        if channel_last:
            x = x.movedim(-3, -1)
        return x.reshape(*lead, -1, 1, 1)
    return run


@register("permute")
def permute(params, ctx):
    axes = [int(v) for v in params.axis] or [0, 1, 2, 3]
    if sorted(axes) != [0, 1, 2, 3]:
        raise ctx.error(f"axis must be a permutation of [0, 1, 2, 3], got {axes}")
    full = {0: 0, 1: 2, 2: 3, 3: 4}
    order = [full[axes[0]], 1, full[axes[1]], full[axes[2]], full[axes[3]]]

    def run(ins):
        x = ins[0]
        pad = 5 - x.dim()
        if pad > 0:
            y = x.reshape((1,) * pad + tuple(x.shape)).permute(order)
            return y.reshape(y.shape[pad:]) if all(d == 1 for d in y.shape[:pad]) else y
        return x.permute(order)
    return run


@register("concat")
def concat(params, ctx):
    axis = -5 if params.sequenceConcat else -3
    return lambda ins: torch.cat(ins, dim=axis)


@register("split")
def split(params, ctx):
    n = int(params.nOutputs) or ctx.n_outputs

    def run(ins):
        x = ins[0]
        return list(torch.split(x, x.shape[-3] // n, dim=-3))
    return run


@register("slice")
def slice_legacy(params, ctx):
    axis = {0: -3, 1: -2, 2: -1}[params.axis]
    start, end, stride = int(params.startIndex), int(params.endIndex), int(params.stride) or 1

    def run(ins):
        x = ins[0]
        index = [slice(None)] * x.dim()
        index[x.dim() + axis] = slice(start, end, stride)
        return x[tuple(index)]
    return run


@register("sequenceRepeat")
def sequence_repeat(params, ctx):
    n = int(params.nRepetitions) or 1

    def run(ins):
        x = ins[0]
        reps = [1] * x.dim()
        reps[x.dim() - 5] = n
        return x.repeat(*reps)
    return run


@register("loadConstant")
def load_constant(params, ctx):
    shape = [int(v) for v in params.shape]
    value = ctx.weights(params.data, shape, "data").reshape(1, 1, *shape)
    return lambda ins: value


# --------------------------------------------------------------------------- ND layers


@register("transpose")
def transpose(params, ctx):
    axes = [int(v) for v in params.axes]
    return lambda ins: ins[0].permute(axes)


@register("squeeze")
def squeeze(params, ctx):
    axes = [int(v) for v in params.axes]
    squeeze_all = params.squeezeAll

    def run(ins):
        x = ins[0]
        rank = x.dim()
        if squeeze_all or not axes:
            drop = {i for i, d in enumerate(x.shape) if d == 1}
        else:
            drop = {axis_index(a, rank) for a in axes}
        shape = [d for i, d in enumerate(x.shape) if i not in drop]
        return x.reshape(shape or [1])
    return run


@register("expandDims")
def expand_dims(params, ctx):
    axes = [int(v) for v in params.axes]

    def run(ins):
        x = ins[0]
        out_rank = x.dim() + len(axes)
        positions = sorted(axis_index(a, out_rank) for a in axes)
        shape = list(x.shape)
        for p in positions:
            shape.insert(p, 1)
        return x.reshape(shape)
    return run


@register("flattenTo2D")
def flatten_to_2d(params, ctx):
    axis = int(params.axis)

    def run(ins):
        x = ins[0]
        a = axis_index(axis, x.dim())
        return x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))
    return run


@register("reshapeStatic")
def reshape_static(params, ctx):
    target = [int(v) for v in params.targetShape]
    return lambda ins: ins[0].reshape(_resolve_shape(target, ins[0].shape))


@register("reshapeLike")
def reshape_like(params, ctx):
    return lambda ins: ins[0].reshape(ins[1].shape)


@register("reshapeDynamic")
def reshape_dynamic(params, ctx):
    return lambda ins: ins[0].reshape(_resolve_shape(ints_of(ins[1]), ins[0].shape))


@register("rankPreservingReshape")
def rank_preserving_reshape(params, ctx):
    target = [int(v) for v in params.targetShape]
    return lambda ins: ins[0].reshape(_resolve_shape(target, ins[0].shape))


@register("concatND")
def concat_nd(params, ctx):
    axis = int(params.axis)
    if params.interleave:
        def interleave(ins):
            a = axis_index(axis, ins[0].dim())
            stacked = torch.stack(ins, dim=a + 1)
            shape = list(ins[0].shape)
            shape[a] = shape[a] * len(ins)
            return stacked.reshape(shape)
        return interleave
    return lambda ins: torch.cat(ins, dim=axis)


@register("splitND")
def split_nd(params, ctx):
    axis = int(params.axis)
    sizes = [int(v) for v in params.splitSizes]
    n = int(params.numSplits) or ctx.n_outputs

    def run(ins):
        x = ins[0]
        if sizes:
            return list(torch.split(x, sizes, dim=axis))
        q, r = divmod(x.shape[axis], n)
        return list(torch.split(x, [q + 1] * r + [q] * (n - r), dim=axis))
    return run


def _slice(x: torch.Tensor, begin, end, strides, begin_masks, end_masks, squeeze_masks):
    index = []
    for i in range(x.dim()):
        b = int(begin[i]) if i < len(begin) else 0
        if i < len(squeeze_masks) and squeeze_masks[i]:
            index.append(b)
            continue
        e = int(end[i]) if i < len(end) else None
        s = int(strides[i]) if i < len(strides) else 1
        bm = begin_masks[i] if i < len(begin_masks) else False
        em = end_masks[i] if i < len(end_masks) else False
        index.append(slice(None if bm else b, None if em else e, s or 1))
    return _index(x, index)


def _index(x: torch.Tensor, index: list) -> torch.Tensor:
    """``x[index]`` with numpy semantics, negative steps included."""
    flips = []
    norm = []
    for i, item in enumerate(index):
        if isinstance(item, slice) and item.step is not None and item.step < 0:
            size = x.shape[i]
            start, stop, step = item.indices(size)
            count = len(range(start, stop, step))
            flips.append(i)
            # x[start:stop:step] == flip(x)[size-1-start :: -step][:count]
            first = size - 1 - start
            norm.append(slice(first, first + count * (-step) if count else first, -step))
        else:
            norm.append(item)
    if flips:
        x = torch.flip(x, flips)
    out = x[tuple(norm)]
    return out if out.dim() else out.reshape(1)


@register("sliceStatic")
def slice_static(params, ctx):
    begin = [int(v) for v in params.beginIds]
    end = [int(v) for v in params.endIds]
    strides = [int(v) for v in params.strides]
    bm, em = list(params.beginMasks), list(params.endMasks)
    sm = list(params.squeezeMasks)
    return lambda ins: _slice(ins[0], begin, end, strides, bm, em, sm)


@register("sliceDynamic")
def slice_dynamic(params, ctx):
    end_p = [int(v) for v in params.endIds]
    strides_p = [int(v) for v in params.strides]
    bm_p, em_p = list(params.beginMasks), list(params.endMasks)
    sm_p = list(params.squeezeMasks)

    def run(ins):
        x = ins[0]
        begin = ints_of(ins[1])
        end = ints_of(ins[2]) if len(ins) > 2 else end_p
        strides = ints_of(ins[3]) if len(ins) > 3 else strides_p
        bm = [bool(v) for v in ints_of(ins[4])] if len(ins) > 4 else bm_p
        em = [bool(v) for v in ints_of(ins[5])] if len(ins) > 5 else em_p
        sm = [bool(v) for v in ints_of(ins[6])] if len(ins) > 6 else sm_p
        return _slice(x, begin, end, strides, bm, em, sm)
    return run


@register("sliceBySize")
def slice_by_size(params, ctx):
    size, axis = int(params.size), int(params.axis)

    def run(ins):
        x = ins[0]
        a = axis_index(axis, x.dim())
        begin = int(scalar_of(ins[1]))
        if begin < 0:
            begin += x.shape[a]
        length = x.shape[a] - begin if size < 0 else size
        return x.narrow(a, begin, length)
    return run


@register("tile")
def tile(params, ctx):
    reps_p = [int(v) for v in params.reps]

    def run(ins):
        x = ins[0]
        reps = ints_of(ins[1]) if len(ins) > 1 else reps_p
        reps = [1] * (x.dim() - len(reps)) + reps
        return x.repeat(*reps)
    return run


@register("stack")
def stack(params, ctx):
    axis = int(params.axis)

    def run(ins):
        a = axis_index(axis, ins[0].dim() + 1)
        return torch.stack(ins, dim=a)
    return run


@register("reverse")
def reverse(params, ctx):
    dims = [i for i, flag in enumerate(params.reverseDim) if flag]

    def run(ins):
        return torch.flip(ins[0], dims) if dims else ins[0]
    return run


@register("reverseSeq")
def reverse_seq(params, ctx):
    batch_axis, seq_axis = int(params.batchAxis), int(params.sequenceAxis)

    def run(ins):
        x, lengths = ins[0], ints_of(ins[1])
        b = axis_index(batch_axis, x.dim())
        s = axis_index(seq_axis, x.dim())
        out = x.clone()
        for i, n in enumerate(lengths):
            if n <= 0:
                continue
            item = x.select(b, i)
            s_item = s - 1 if s > b else s
            rev = torch.flip(item.narrow(s_item, 0, n), [s_item])
            out.select(b, i).narrow(s_item, 0, n).copy_(rev)
        return out
    return run


@register("slidingWindows")
def sliding_windows(params, ctx):
    axis, size, step = int(params.axis), int(params.windowSize), int(params.step) or 1

    def run(ins):
        x = ins[0]
        a = axis_index(axis, x.dim())
        return x.unfold(a, size, step).movedim(-1, a + 1)
    return run


@register("getShape")
def get_shape(params, ctx):
    return lambda ins: torch.tensor(list(ins[0].shape), dtype=torch.float32)


@register("loadConstantND")
def load_constant_nd(params, ctx):
    shape = [int(v) for v in params.shape]
    value = ctx.weights(params.data, shape, "data")
    return lambda ins: value


@register("fillLike")
def fill_like(params, ctx):
    value = params.value
    return lambda ins: torch.full(tuple(ins[0].shape), value, dtype=torch.float32)


@register("fillStatic")
def fill_static(params, ctx):
    shape = tuple(int(v) for v in params.targetShape)
    value = torch.full(shape, params.value, dtype=torch.float32)
    return lambda ins: value


@register("fillDynamic")
def fill_dynamic(params, ctx):
    value = params.value
    return lambda ins: torch.full(tuple(ints_of(ins[0])), value, dtype=torch.float32)


@register("broadcastToLike")
def broadcast_to_like(params, ctx):
    return lambda ins: _broadcast(ins[0], tuple(ins[1].shape))


@register("broadcastToStatic")
def broadcast_to_static(params, ctx):
    shape = tuple(int(v) for v in params.targetShape)
    return lambda ins: _broadcast(ins[0], shape)


@register("broadcastToDynamic")
def broadcast_to_dynamic(params, ctx):
    return lambda ins: _broadcast(ins[0], tuple(ints_of(ins[1])))


def _broadcast(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    out = torch.broadcast_shapes(tuple(x.shape), shape)
    return x.expand(out).contiguous()


@register("rangeStatic")
def range_static(params, ctx):
    value = torch.arange(params.startValue, params.endValue, params.stepSizeValue,
                         dtype=torch.float64).to(torch.float32)
    return lambda ins: value


@register("rangeDynamic")
def range_dynamic(params, ctx):
    start_p, step_p = params.startValue, params.stepSizeValue

    def run(ins):
        end = scalar_of(ins[0])
        start = scalar_of(ins[1]) if len(ins) > 1 else start_p
        step = scalar_of(ins[2]) if len(ins) > 2 else step_p
        return torch.arange(start, end, step, dtype=torch.float64).to(torch.float32)
    return run
