"""Pooling ops: max, average (with or without padding in the count) and L2.

Core ML's window rule, not PyTorch's: with ``ceil_mode`` the output size is
``floor((in + pad_b + pad_e - k + s - 1) / s) + 1``, less one only when the last window starts
past ``in + pad_b`` *and* there is padding; the part of a last window that hangs past the padded
input (the overhang) is padding too. So an average with ``exclude_padding_from_average=False``
divides every window, overhanging ones included, by the full kernel size (PyTorch divides an
overhanging window by the elements inside ``in + pad``).
"""

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


def _out_size(size: int, k: int, s: int, begin: int, end: int, ceil_mode: bool) -> int:
    """Output length of one spatial axis, by MIL's pooling shape rule."""
    padded = size + begin + end
    if not ceil_mode:
        return (padded - k) // s + 1
    out = (padded - k + s - 1) // s + 1
    if (out - 1) * s >= size + begin and (begin > 0 or end > 0):
        out -= 1
    return out


def _setup(ins):
    """``x``, kernel, strides and the pads [b0, e0, ...] with the ceil-mode overhang added."""
    x = ins["x"]
    kernel = ints(ins["kernel_sizes"])
    strides = ints(ins["strides"]) if ins.get("strides") is not None else [1] * len(kernel)
    pads = _pool_pads(ins, x, kernel, strides)
    ceil_mode = bool(scalar(ins.get("ceil_mode"), False))
    full = []
    for i, (size, k, s) in enumerate(zip(x.shape[2:], kernel, strides)):
        begin, end = pads[2 * i], pads[2 * i + 1]
        span = (_out_size(size, k, s, begin, end, ceil_mode) - 1) * s + k
        full += [begin, end + max(0, span - (size + begin + end))]
    return x, kernel, strides, full


def _torch_padding(pads, kernel):
    """Symmetric ``pads`` as torch's per-axis padding (it allows at most half a kernel), or None."""
    begin, end = pads[0::2], pads[1::2]
    if begin != end or any(p > k // 2 for p, k in zip(begin, kernel)):
        return None
    return begin


@register("max_pool")
def max_pool(ins, node):
    """Max over each window; padding never wins (``-inf``)."""
    x, kernel, strides, pads = _setup(ins)
    spatial = x.dim() - 2
    padding = _torch_padding(pads, kernel)
    if padding is None:
        x = F.pad(x, torch_pad_order(pads), value=float("-inf"))
        padding = [0] * spatial
    return _MAX[spatial](x, kernel, strides, padding, 1, False)


@register("avg_pool")
def avg_pool(ins, node):
    """Sum of each window / kernel size; ``exclude_padding_from_average``: / input elements in
    the window (a window without any gives 0)."""
    x, kernel, strides, pads = _setup(ins)
    exclude = bool(scalar(ins.get("exclude_padding_from_average"), False))
    pool = _AVG[x.dim() - 2]
    padding = _torch_padding(pads, kernel)
    if padding is not None:
        return pool(x, kernel, strides, padding, False, not exclude)
    total = pool(F.pad(x, torch_pad_order(pads)), kernel, strides, 0, False, True)
    if not exclude:
        return total
    ones = F.pad(torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype), torch_pad_order(pads))
    share = pool(ones, kernel, strides, 0, False, True)
    return torch.where(share > 0, total / share.clamp_min(1e-30), torch.zeros_like(total))


@register("l2_pool")
def l2_pool(ins, node):
    """sqrt(Σ x²) over each window (padding adds nothing)."""
    x, kernel, strides, pads = _setup(ins)
    if any(pads):
        x = F.pad(x, torch_pad_order(pads))
    sums = _AVG[x.dim() - 2](x * x, kernel, strides, 0, False, True)
    count = 1
    for k in kernel:
        count *= k
    return torch.sqrt(sums * count)
