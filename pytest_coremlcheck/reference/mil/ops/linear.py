"""Linear algebra: ``linear``, ``matmul`` and ``einsum``.

iOS17 lets weights / one matmul operand have another dtype than the activations; integer
products are computed exactly in float64 and cast to the declared output type.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import scalar


def _common(*tensors):
    """Operands in one dtype torch can multiply: float32, or float64 for integer operands."""
    if all(t is None or t.dtype == torch.float32 for t in tensors):
        return tensors
    present = [t for t in tensors if t is not None]
    if all(t.is_floating_point() for t in present) and len({t.dtype for t in present}) == 1:
        return tensors
    target = torch.float64 if any(not t.is_floating_point() for t in present) else torch.float32
    return tuple(None if t is None else t.to(target) for t in tensors)


@register("linear")
def linear(ins, node):
    """``x · weightᵀ + bias``."""
    x, w, b = _common(ins["x"], ins["weight"], ins.get("bias"))
    return F.linear(x, w, b)


@register("matmul")
def matmul(ins, node):
    """``x @ y`` (numpy broadcasting), optionally transposing the last two axes first."""
    x, y = _common(ins["x"], ins["y"])
    if scalar(ins.get("transpose_x"), False) and x.dim() > 1:
        x = x.transpose(-1, -2)
    if scalar(ins.get("transpose_y"), False) and y.dim() > 1:
        y = y.transpose(-1, -2)
    return torch.matmul(x, y)


@register("einsum")
def einsum(ins, node):
    """``[*B, C, H, W1] × [*B, W1, H, W2] -> [*B, C, H, W2]`` (the layout MIL's equations name,
    e.g. ``"nchw,nwhu->nchu"``); B and H broadcast."""
    x, y = _common(*ins["values"])
    # move H in front of the matrix axes: x [.., H, C, W1], y [.., H, W1, W2]
    out = torch.matmul(x.transpose(-3, -2), y.transpose(-3, -2))
    return out.transpose(-3, -2)
