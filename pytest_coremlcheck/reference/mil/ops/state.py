"""State ops of iOS18 programs. The engine binds each state input to a ``StateCell``."""

from __future__ import annotations

import torch

from ..registry import register


@register("read_state")
def read_state(ins, node):
    """The state's current value (a copy, so later writes do not alias it)."""
    return ins["input"].value.clone()


@register("coreml_update_state")
def coreml_update_state(ins, node):
    """Store ``value`` into the state (rounded to fp16 for fp16 states); return the value."""
    cell, value = ins["state"], ins["value"]
    stored = value.to(torch.float16).to(torch.float32) if cell.fp16 else value.clone()
    if tuple(stored.shape) != tuple(cell.value.shape):
        raise ValueError(f"state {cell.name!r} holds shape {tuple(cell.value.shape)}, the op "
                         f"writes {tuple(stored.shape)}")
    cell.value = stored
    return stored
