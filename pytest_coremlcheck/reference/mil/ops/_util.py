"""Small conversions shared by op implementations."""

from __future__ import annotations

import torch


def ints(value) -> list[int]:
    """A const list/array/tensor of integers as Python ints."""
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)]


def scalar(value, default=None):
    """A const scalar (0-d tensor, number or bool) as a Python number."""
    if value is None:
        return default
    if isinstance(value, torch.Tensor):
        return value.item()
    return value


def axis_index(axis: int, rank: int) -> int:
    """A possibly negative axis as a non-negative index."""
    return axis + rank if axis < 0 else axis


def same_padding(in_sizes, kernel, strides, dilations, lower: bool = False) -> list[int]:
    """[begin0, end0, begin1, end1, ...] so that out = ceil(in / stride) ("same" padding).

    total = max((out - 1)·stride + (k - 1)·dilation + 1 - in, 0); ``same`` puts the extra
    element at the end, ``same_lower`` at the beginning.
    """
    pads = []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        pads += [large, small] if lower else [small, large]
    return pads


def torch_pad_order(pads: list[int]) -> list[int]:
    """MIL pads [b0, e0, b1, e1, ...] (outer axis first) as F.pad's (last axis first)."""
    pairs = [pads[i : i + 2] for i in range(0, len(pads), 2)]
    return [p for pair in reversed(pairs) for p in pair]
