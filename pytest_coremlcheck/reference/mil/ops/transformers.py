"""Attention: iOS18 ``scaled_dot_product_attention``."""

from __future__ import annotations

import torch.nn.functional as F

from ..registry import register


@register("scaled_dot_product_attention", versions=("iOS18",))
def scaled_dot_product_attention(ins, node):
    """``softmax(Q Kᵀ / √E + mask) V``; a bool mask keeps the positions where it is true,
    a float mask is added to the scores (``torch.nn.functional.scaled_dot_product_attention``)."""
    return F.scaled_dot_product_attention(ins["query"], ins["key"], ins["value"],
                                          attn_mask=ins.get("attn_mask"))
