"""Convolution and transposed convolution (1-D, 2-D, 3-D)."""

from __future__ import annotations

import torch.nn.functional as F

from ..registry import register
from ._util import ints, same_padding, scalar, torch_pad_order

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _conv_params(ins, x, kernel):
    spatial = x.dim() - 2
    strides = ints(ins["strides"]) if "strides" in ins else [1] * spatial
    dilations = ints(ins["dilations"]) if "dilations" in ins else [1] * spatial
    pad_type = ins.get("pad_type", "valid")
    if pad_type == "custom":
        pads = ints(ins["pad"])
    elif pad_type in ("same", "same_lower"):
        pads = same_padding(x.shape[2:], kernel, strides, dilations, lower=pad_type == "same_lower")
    else:
        pads = [0] * (2 * spatial)
    return strides, dilations, pads, int(scalar(ins.get("groups"), 1))


@register("conv")
def conv(ins, node):
    x, w = ins["x"], ins["weight"]
    strides, dilations, pads, groups = _conv_params(ins, x, w.shape[2:])
    begin, end = pads[0::2], pads[1::2]
    if begin == end:
        padding = begin
    else:
        x = F.pad(x, torch_pad_order(pads))
        padding = [0] * len(begin)
    return _CONV[x.dim() - 2](x, w, ins.get("bias"), strides, padding, dilations, groups)


@register("conv_transpose")
def conv_transpose(ins, node):
    x, w = ins["x"], ins["weight"]
    groups = int(scalar(ins.get("groups"), 1))
    spatial = x.dim() - 2
    strides = ints(ins["strides"]) if "strides" in ins else [1] * spatial
    dilations = ints(ins["dilations"]) if "dilations" in ins else [1] * spatial
    full = _CONV_T[spatial](x, w, None, strides, 0, 0, groups, dilations)
    full_sizes = list(full.shape[2:])
    pad_type = ins.get("pad_type", "valid")
    if "output_shape" in ins and ins["output_shape"] is not None:
        target = ints(ins["output_shape"])[-spatial:]
    elif pad_type in ("same", "same_lower"):
        target = [s * st for s, st in zip(x.shape[2:], strides)]
    else:
        target = None
    if pad_type == "custom":
        pads = ints(ins["pad"])
    elif target is not None:
        pads = []
        for size, want in zip(full_sizes, target):
            total = max(size - want, 0)
            small, large = total // 2, total - total // 2
            pads += [large, small] if pad_type == "same_lower" else [small, large]
    else:
        pads = [0] * (2 * spatial)
    index = [slice(None), slice(None)]
    for axis in range(spatial):
        begin, end = pads[2 * axis], pads[2 * axis + 1]
        stop = full_sizes[axis] - end
        if target is not None and pad_type != "custom":
            stop = begin + target[axis]
        index.append(slice(begin, stop))
    out = full[tuple(index)]
    if target is not None and list(out.shape[2:]) != target:  # output_shape beyond full size
        grow = [t - s for t, s in zip(target, out.shape[2:])]
        out = F.pad(out, [p for g in reversed(grow) for p in (0, max(g, 0))])
    bias = ins.get("bias")
    if bias is not None:
        out = out + bias.reshape([1, -1] + [1] * spatial)
    return out
