"""Pooling ops: max, average (with or without padding in the count) and L2."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import ints, same_padding, scalar, torch_pad_order

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _pool_pads(ins, x, kernel, strides):
    pad_type = ins.get("pad_type", "valid")
    spatial = x.dim() - 2
    if pad_type == "custom":
        return ints(ins["pad"])
    if pad_type in ("same", "same_lower"):
        return same_padding(x.shape[2:], kernel, strides, [1] * spatial, pad_type == "same_lower")
    return [0] * (2 * spatial)


def _setup(ins):
    x = ins["x"]
    kernel = ints(ins["kernel_sizes"])
    strides = ints(ins["strides"]) if ins.get("strides") is not None else [1] * len(kernel)
    pads = _pool_pads(ins, x, kernel, strides)
    ceil_mode = bool(scalar(ins.get("ceil_mode"), False))
    return x, kernel, strides, pads, ceil_mode


def _torch_padding(pads, kernel):
    """Symmetric ``pads`` as torch's per-axis padding (it allows at most half a kernel), or None.

    Passing the padding to torch (rather than padding first) keeps PyTorch's ``ceil_mode``
    rule, which MIL follows: a last window starting in the right padding is dropped.
    """
    begin, end = pads[0::2], pads[1::2]
    if begin != end or any(p > k // 2 for p, k in zip(begin, kernel)):
        return None
    return begin


@register("max_pool")
def max_pool(ins, node):
    """Max over each window; padding never wins (``-inf``)."""
    x, kernel, strides, pads, ceil_mode = _setup(ins)
    spatial = x.dim() - 2
    padding = _torch_padding(pads, kernel)
    if padding is None:
        x = F.pad(x, torch_pad_order(pads), value=float("-inf"))
        padding = [0] * spatial
    return _MAX[spatial](x, kernel, strides, padding, 1, ceil_mode)


@register("avg_pool")
def avg_pool(ins, node):
    """Mean over each window; ``exclude_padding_from_average`` counts only input elements."""
    x, kernel, strides, pads, ceil_mode = _setup(ins)
    exclude = bool(scalar(ins.get("exclude_padding_from_average"), False))
    spatial = x.dim() - 2
    pool = _AVG[spatial]
    padding = _torch_padding(pads, kernel)
    if padding is not None:
        return pool(x, kernel, strides, padding, ceil_mode, not exclude)
    padded = F.pad(x, torch_pad_order(pads))
    total = pool(padded, kernel, strides, 0, ceil_mode, True)
    if not exclude:
        return total
    ones = F.pad(torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype), torch_pad_order(pads))
    return total / pool(ones, kernel, strides, 0, ceil_mode, True)


@register("l2_pool")
def l2_pool(ins, node):
    x, kernel, strides, pads, ceil_mode = _setup(ins)
    if any(pads):
        x = F.pad(x, torch_pad_order(pads))
    spatial = x.dim() - 2
    sums = _AVG[spatial](x * x, kernel, strides, 0, ceil_mode, True)
    count = 1
    for k in kernel:
        count *= k
    return torch.sqrt(sums * count)
