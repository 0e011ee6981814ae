"""State ops of iOS18 programs. The engine binds each state input to a ``StateCell``."""

from __future__ import annotations

import torch

from ..registry import register


@register("read_state")
def read_state(ins, node):
    """The state's current value. Ops never write tensors in place and ``coreml_update_state``
    replaces the cell's tensor, so the value is not copied."""
    return ins["input"].value


@register("coreml_update_state")
def coreml_update_state(ins, node):
    """Store ``value`` into the state (rounded to fp16 for fp16 states, unless the value is
    fp16-exact already); return the value. An fp32 value is copied: it may be a view of a
    caller's input array."""
    cell, value = ins["state"], ins["value"]
    if not cell.fp16:
        stored = value.clone()
    elif node.fp16_exact:
        stored = value
    else:
        stored = value.to(torch.float16).to(torch.float32)
    if tuple(stored.shape) != tuple(cell.value.shape):
        raise ValueError(f"state {cell.name!r} holds shape {tuple(cell.value.shape)}, the op "
                         f"writes {tuple(stored.shape)}")
    cell.value = stored
    return stored
