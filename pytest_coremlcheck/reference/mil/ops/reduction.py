"""Reductions over ``axes`` (all axes when absent), with ``keep_dims``."""

from __future__ import annotations

import torch

from ..registry import register
from ._util import axis_index, ints, scalar


def _axes(ins, x):
    axes = ins.get("axes")
    if axes is None:
        return list(range(x.dim()))
    return sorted(axis_index(a, x.dim()) for a in ints(axes))


def _reduction(fn):
    def impl(ins, node):
        x = ins["x"]
        axes = _axes(ins, x)
        keep = bool(scalar(ins.get("keep_dims"), False))
        if not axes:
            return x
        return fn(x, axes, keep)

    return impl


def _multi(fn):
    """Apply a single-axis torch reduction over several axes, innermost first."""

    def run(x, axes, keep):
        for axis in sorted(axes, reverse=True):
            x = fn(x, axis, keep)
        return x

    return run


_REDUCTIONS = {
    "reduce_mean": lambda x, a, k: torch.mean(x, dim=a, keepdim=k),
    "reduce_sum": lambda x, a, k: torch.sum(x, dim=a, keepdim=k),
    "reduce_max": lambda x, a, k: torch.amax(x, dim=a, keepdim=k),
    "reduce_min": lambda x, a, k: torch.amin(x, dim=a, keepdim=k),
    "reduce_prod": _multi(lambda x, a, k: torch.prod(x, dim=a, keepdim=k)),
    "reduce_l1_norm": lambda x, a, k: torch.sum(torch.abs(x), dim=a, keepdim=k),
    "reduce_l2_norm": lambda x, a, k: torch.sqrt(torch.sum(x * x, dim=a, keepdim=k)),
    "reduce_sum_square": lambda x, a, k: torch.sum(x * x, dim=a, keepdim=k),
    "reduce_log_sum": lambda x, a, k: torch.log(torch.sum(x, dim=a, keepdim=k)),
    "reduce_log_sum_exp": lambda x, a, k: torch.logsumexp(x, dim=a, keepdim=k),
}
for _name, _fn in _REDUCTIONS.items():
    register(_name)(_reduction(_fn))


def _arg(fn):
    def impl(ins, node):
        x = ins["x"]
        axis = axis_index(int(scalar(ins.get("axis"), -1)), x.dim())
        keep = bool(scalar(ins.get("keep_dims"), False))
        return fn(x, dim=axis, keepdim=keep)

    return impl


register("reduce_argmax")(_arg(torch.argmax))
register("reduce_argmin")(_arg(torch.argmin))
