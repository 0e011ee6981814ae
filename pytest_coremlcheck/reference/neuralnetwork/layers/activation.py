"""The ``activation`` layer in all its kinds, and the element-wise unary layers of spec ≥ 4.

``ActivationParams`` kinds (x is the input, per-channel parameters run along axis −3):

==================== ==========================================================
linear               α·x + β
ReLU                 max(0, x)
leakyReLU            x if x ≥ 0 else α·x
thresholdedReLU      x if x ≥ α else 0
PReLU                x if x ≥ 0 else α_c·x           (α of length 1 or C)
tanh                 tanh(x)
scaledTanh           α·tanh(β·x)
sigmoid              1 / (1 + e^−x)
sigmoidHard          min(max(α·x + β, 0), 1)
ELU                  x if x ≥ 0 else α·(e^x − 1)
softsign             x / (1 + |x|)
softplus             log(1 + e^x)
parametricSoftplus   α_c·log(1 + e^(β_c·x))          (α, β of length 1 or C)
==================== ==========================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import channel_view


def activation_fn(params, ctx, part: str = "activation"):
    """The function ``x -> f(x)`` of an ``ActivationParams`` message."""
    kind = params.WhichOneof("NonlinearityType")
    if kind is None:
        raise ctx.error(f"{part}: no activation kind set")
    p = getattr(params, kind)
    if kind == "linear":
        a, b = p.alpha, p.beta
        return lambda x: x * a + b
    if kind == "ReLU":
        return torch.relu
    if kind == "leakyReLU":
        a = p.alpha
        return lambda x: torch.where(x >= 0, x, x * a)
    if kind == "thresholdedReLU":
        a = p.alpha
        return lambda x: torch.where(x >= a, x, torch.zeros_like(x))
    if kind == "tanh":
        return torch.tanh
    if kind == "scaledTanh":
        a, b = p.alpha, p.beta
        return lambda x: a * torch.tanh(b * x)
    if kind == "sigmoid":
        return torch.sigmoid
    if kind == "sigmoidHard":
        a, b = p.alpha, p.beta
        return lambda x: torch.clamp(x * a + b, 0.0, 1.0)
    if kind == "ELU":
        a = p.alpha
        return lambda x: torch.where(x >= 0, x, a * torch.expm1(x))
    if kind == "softsign":
        return F.softsign
    if kind == "softplus":
        return F.softplus
    if kind == "PReLU":
        alpha = ctx.weights_any(p.alpha, f"{part} PReLU alpha")
        return _per_channel(lambda x, al: torch.where(x >= 0, x, x * al), alpha)
    if kind == "parametricSoftplus":
        alpha = ctx.weights_any(p.alpha, f"{part} parametricSoftplus alpha")
        beta = ctx.weights_any(p.beta, f"{part} parametricSoftplus beta")

        def softplus(x):
            al = alpha if alpha.numel() == 1 else channel_view(alpha)
            be = beta if beta.numel() == 1 else channel_view(beta)
            return al * F.softplus(be * x)
        return softplus
    raise ctx.unsupported(f"{part}: activation kind {kind!r} is not implemented")


def _per_channel(fn, values: torch.Tensor):
    if values.numel() == 1:
        v = values.reshape(())
        return lambda x: fn(x, v)
    view = channel_view(values)
    return lambda x: fn(x, view)


@register("activation")
def activation(params, ctx):
    fn = activation_fn(params, ctx)
    return lambda ins: fn(ins[0])


_UNARY = {
    "ceil": torch.ceil,
    "floor": torch.floor,
    "sign": torch.sign,
    "round": torch.round,
    "exp2": torch.exp2,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "asinh": torch.asinh,
    "acosh": torch.acosh,
    "atanh": torch.atanh,
    "erf": torch.erf,
}


def _unary_builder(fn):
    def build(params, ctx):
        return lambda ins: fn(ins[0])
    return build


for _name, _fn in _UNARY.items():
    register(_name)(_unary_builder(_fn))


@register("clip")
def clip(params, ctx):
    """min(max(x, minVal), maxVal)."""
    lo, hi = params.minVal, params.maxVal
    return lambda ins: torch.clamp(ins[0], lo, hi)


@register("clampedReLU")
def clamped_relu(params, ctx):
    """min(β, x) if x ≥ 0 else min(β, α·x)."""
    a, b = params.alpha, params.beta
    return lambda ins: torch.clamp(torch.where(ins[0] >= 0, ins[0], ins[0] * a), max=b)


@register("gelu")
def gelu(params, ctx):
    """EXACT: 0.5·x·(1 + erf(x/√2)); TANH_APPROXIMATION: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)));
    SIGMOID_APPROXIMATION: x·σ(1.702·x)."""
    mode = params.mode
    if mode == 0:
        return lambda ins: F.gelu(ins[0])
    if mode == 1:
        c = math.sqrt(2.0 / math.pi)
        return lambda ins: 0.5 * ins[0] * (1.0 + torch.tanh(c * (ins[0] + 0.044715 * ins[0] ** 3)))
    if mode == 2:
        return lambda ins: ins[0] * torch.sigmoid(1.702 * ins[0])
    raise ctx.unsupported(f"GELU mode {mode} is not implemented")


@register("unary")
def unary(params, ctx):
    """x ← scale·x + shift (scale 0 means 1), then SQRT √x, RSQRT 1/√(x+ε), INVERSE 1/(x+ε),
    POWER x^α, EXP eˣ, LOG ln(x+ε), ABS |x|, THRESHOLD max(α, x); ε defaults to 1e-6."""
    scale = params.scale or 1.0
    shift = params.shift
    eps = params.epsilon or 1e-6
    alpha = params.alpha
    ops = {
        0: torch.sqrt,
        1: lambda x: torch.rsqrt(x + eps),
        2: lambda x: 1.0 / (x + eps),
        3: lambda x: torch.pow(x, alpha),
        4: torch.exp,
        5: lambda x: torch.log(x + eps),
        6: torch.abs,
        7: lambda x: torch.clamp(x, min=alpha),
    }
    op = ops.get(params.type)
    if op is None:
        raise ctx.unsupported(f"unary function type {params.type} is not implemented")
    if scale == 1.0 and shift == 0.0:
        return lambda ins: op(ins[0])
    return lambda ins: op(ins[0] * scale + shift)
