"""Small helpers shared by layer implementations."""

from __future__ import annotations

import torch


def channel_view(values: torch.Tensor, rank: int = 3) -> torch.Tensor:
    """A per-channel vector shaped to broadcast along axis -3: (C, 1, 1)."""
    return values.reshape(-1, *([1] * (rank - 1)))


def as_batched(x: torch.Tensor, keep: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``x`` reshaped to (N, *last ``keep`` dims), with the leading shape to restore it.

    Legacy layers treat every axis before the last ``keep`` as batch.
    """
    lead = tuple(x.shape[: x.dim() - keep])
    tail = tuple(x.shape[x.dim() - keep:])
    if x.dim() < keep:
        tail = (1,) * (keep - x.dim()) + tuple(x.shape)
        lead = ()
    return x.reshape(-1, *tail), lead


def restore(y: torch.Tensor, lead: tuple[int, ...], keep: int, rank: int) -> torch.Tensor:
    """Undo :func:`as_batched` for a result whose last ``keep`` dims may have changed."""
    tail = tuple(y.shape[1:])
    if rank < keep:
        return y.reshape(tail[keep - rank:])
    return y.reshape(*lead, *tail)


def axis_index(axis: int, rank: int) -> int:
    """A possibly negative axis as a non-negative index."""
    return axis + rank if axis < 0 else axis


def scalar_of(t: torch.Tensor) -> float:
    """The single value of a scalar-like blob."""
    return float(t.reshape(-1)[0])


def ints_of(t: torch.Tensor) -> list[int]:
    """A rank-1 blob of integer values as Python ints."""
    return [int(v) for v in t.reshape(-1).tolist()]

