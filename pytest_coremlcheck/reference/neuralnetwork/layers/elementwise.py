"""Element-wise arithmetic: the legacy multi-input layers and the broadcastable layers.

Legacy (spec 1): ``add`` (Σ xᵢ, or x + α with one input), ``multiply`` (Π xᵢ, or α·x),
``average`` (mean of the inputs), ``max``/``min`` (element-wise over the inputs), ``dot``
(Σ_C x₁·x₂ along axis −3, optionally of the L2-normalised inputs: cosine similarity),
``scale`` (γ·x + β) and ``bias`` (x + β) with parameters of shape [1], [C], [1, H, W] or
[C, H, W] broadcast against the last three axes.

Broadcastable (spec ≥ 4, numpy broadcasting): add, subtract, multiply, divide, pow, max, min,
mod (x − y·⌊x/y⌋), floorDiv (⌊x/y⌋); comparisons and logical layers return 1.0 / 0.0 (inputs
are true when non-zero); ``whereBroadcastable(c, a, b)`` = a where c ≠ 0 else b.
"""

from __future__ import annotations

import torch

from ..registry import register


@register("add")
def add(params, ctx):
    if ctx.n_inputs == 1:
        alpha = params.alpha
        return lambda ins: ins[0] + alpha

    def run(ins):
        out = ins[0] + ins[1]
        for x in ins[2:]:
            out = out + x
        return out
    return run


@register("multiply")
def multiply(params, ctx):
    if ctx.n_inputs == 1:
        alpha = params.alpha
        return lambda ins: ins[0] * alpha

    def run(ins):
        out = ins[0] * ins[1]
        for x in ins[2:]:
            out = out * x
        return out
    return run


@register("average")
def average(params, ctx):
    def run(ins):
        out = ins[0]
        for x in ins[1:]:
            out = out + x
        return out / len(ins)
    return run


@register("max")
def maximum(params, ctx):
    def run(ins):
        out = ins[0]
        for x in ins[1:]:
            out = torch.maximum(out, x)
        return out
    return run


@register("min")
def minimum(params, ctx):
    def run(ins):
        out = ins[0]
        for x in ins[1:]:
            out = torch.minimum(out, x)
        return out
    return run


@register("dot")
def dot(params, ctx):
    cosine = params.cosineSimilarity

    def run(ins):
        a, b = ins
        if cosine:
            a = a / torch.linalg.vector_norm(a, dim=-3, keepdim=True)
            b = b / torch.linalg.vector_norm(b, dim=-3, keepdim=True)
        return (a * b).sum(dim=-3, keepdim=True)
    return run


def _param_view(values: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """Reshape a scale/bias parameter of shape [1], [C], [1,H,W] or [C,H,W] for broadcasting."""
    if len(shape) <= 1:
        n = shape[0] if shape else values.numel()
        return values.reshape(()) if n == 1 else values.reshape(n, 1, 1)
    return values.reshape(*shape)


@register("scale")
def scale(params, ctx):
    shape_s = [int(d) for d in params.shapeScale] or [1]
    gamma = _param_view(ctx.weights(params.scale, shape_s, "scale"), shape_s)
    beta = None
    if params.hasBias:
        shape_b = [int(d) for d in params.shapeBias] or [1]
        beta = _param_view(ctx.weights(params.bias, shape_b, "bias"), shape_b)
    if beta is None:
        return lambda ins: ins[0] * gamma
    return lambda ins: ins[0] * gamma + beta


@register("bias")
def bias(params, ctx):
    shape = [int(d) for d in params.shape] or [1]
    beta = _param_view(ctx.weights(params.bias, shape, "bias"), shape)
    return lambda ins: ins[0] + beta


def _binary(fn):
    def build(params, ctx):
        return lambda ins: fn(ins[0], ins[1])
    return build


_BINARY = {
    "addBroadcastable": torch.add,
    "subtractBroadcastable": torch.sub,
    "multiplyBroadcastable": torch.mul,
    "divideBroadcastable": torch.div,
    "powBroadcastable": torch.pow,
    "maxBroadcastable": torch.maximum,
    "minBroadcastable": torch.minimum,
    "modBroadcastable": torch.remainder,
    "floorDivBroadcastable": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "logicalAnd": lambda a, b: ((a != 0) & (b != 0)).float(),
    "logicalOr": lambda a, b: ((a != 0) | (b != 0)).float(),
    "logicalXor": lambda a, b: ((a != 0) ^ (b != 0)).float(),
}

for _name, _fn in _BINARY.items():
    register(_name)(_binary(_fn))


@register("logicalNot")
def logical_not(params, ctx):
    return lambda ins: (ins[0] == 0).float()


_COMPARE = {
    "equal": torch.eq,
    "notEqual": torch.ne,
    "lessThan": torch.lt,
    "lessEqual": torch.le,
    "greaterThan": torch.gt,
    "greaterEqual": torch.ge,
}


def _comparison(fn):
    def build(params, ctx):
        if ctx.n_inputs == 1:
            alpha = params.alpha
            return lambda ins: fn(ins[0], alpha).float()
        return lambda ins: fn(ins[0], ins[1]).float()
    return build


for _name, _fn in _COMPARE.items():
    register(_name)(_comparison(_fn))


@register("whereBroadcastable")
def where_broadcastable(params, ctx):
    return lambda ins: torch.where(ins[0] != 0, ins[1], ins[2])
