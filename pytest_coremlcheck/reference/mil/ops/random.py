"""Random ops, executed with a seeded generator and registered as random.

``seed >= 0`` seeds the op's generator (the same draw on every prediction); ``seed = -1``
(MIL's "unseeded") uses seed 0 so predictions stay reproducible. Their outputs are not
comparable with another runtime's draws: ``registry.is_random`` lets checks say so.
"""

from __future__ import annotations

import torch

from ..registry import register
from ._util import ints, scalar


def _generator(ins) -> torch.Generator:
    seed = int(scalar(ins.get("seed"), -1))
    return torch.Generator().manual_seed(seed if seed >= 0 else 0)


@register("random_bernoulli", random=True)
def random_bernoulli(ins, node):
    """1 with probability ``prob``, else 0."""
    shape = ints(ins["shape"])
    prob = float(scalar(ins.get("prob"), 0.5))
    draw = torch.rand(shape, generator=_generator(ins))
    return (draw < prob).to(torch.float32)


@register("random_uniform", random=True)
def random_uniform(ins, node):
    """Uniform on ``[low, high)``."""
    low = float(scalar(ins.get("low"), 0.0))
    high = float(scalar(ins.get("high"), 1.0))
    draw = torch.rand(ints(ins["shape"]), generator=_generator(ins))
    return low + (high - low) * draw


@register("random_normal", random=True)
def random_normal(ins, node):
    """Normal with ``mean`` and ``stddev``."""
    mean = float(scalar(ins.get("mean"), 0.0))
    std = float(scalar(ins.get("stddev"), 1.0))
    return mean + std * torch.randn(ints(ins["shape"]), generator=_generator(ins))


@register("random_categorical", random=True)
def random_categorical(ins, node):
    """``size`` class indices per distribution (last axis), drawn with replacement.

    ``mode="logits"``: probabilities ``softmax(x)``; ``mode="probs"``: ``x`` normalised.
    """
    x = ins["x"].to(torch.float32)
    size = int(scalar(ins.get("size"), 1))
    if (ins.get("mode") or "logits") == "logits":
        probs = torch.softmax(x, dim=-1)
    else:
        probs = x / x.sum(dim=-1, keepdim=True)
    flat = probs.reshape(-1, probs.shape[-1])
    draws = torch.multinomial(flat, size, replacement=True, generator=_generator(ins))
    return draws.reshape(tuple(x.shape[:-1]) + (size,)).to(torch.float32)
