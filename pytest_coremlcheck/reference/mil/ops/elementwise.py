"""Elementwise binary and unary ops, with Core ML's integer semantics."""

from __future__ import annotations

import torch

from ..registry import register
from ._util import scalar


def _operand(value):
    """A tensor for a binary op's operand (const bools arrive as Python bools)."""
    return value if isinstance(value, torch.Tensor) else torch.tensor(value)


def _binary(fn):
    return lambda ins, node: fn(_operand(ins["x"]), _operand(ins["y"]))


_BINARY = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "equal": torch.eq,
    "not_equal": torch.ne,
    "less": torch.lt,
    "less_equal": torch.le,
    "greater": torch.gt,
    "greater_equal": torch.ge,
    "logical_and": torch.logical_and,
    "logical_or": torch.logical_or,
    "logical_xor": torch.logical_xor,
}
for _name, _fn in _BINARY.items():
    register(_name)(_binary(_fn))


@register("pow")
def pow_(ins, node):
    """``x ** y``; a square (``y`` a single 2) as ``x · x``: correctly rounded, where torch's
    ``pow`` with a tensor exponent is one ulp off for about 2% of float32 values (and 30×
    slower)."""
    x, y = _operand(ins["x"]), _operand(ins["y"])
    if y.numel() == 1 and y.dim() <= x.dim() and x.is_floating_point() and \
            y.is_floating_point() and float(y.reshape(())) == 2.0:
        return torch.mul(x, x)
    return torch.pow(x, y)


def _is_int(t) -> bool:
    return isinstance(t, torch.Tensor) and not t.is_floating_point() and t.dtype != torch.bool


@register("real_div")
def real_div(ins, node):
    x, y = ins["x"], ins["y"]
    if _is_int(x) and _is_int(y):  # integer real_div truncates like a cast of the quotient
        return torch.div(x, y, rounding_mode="trunc")
    return torch.true_divide(x, y)


@register("floor_div")
def floor_div(ins, node):
    return torch.div(ins["x"], ins["y"], rounding_mode="floor")


@register("mod")
def mod(ins, node):
    return torch.remainder(ins["x"], ins["y"])


_UNARY = {
    "abs": torch.abs,
    "acos": torch.acos,
    "asin": torch.asin,
    "atan": torch.atan,
    "atanh": torch.atanh,
    "ceil": torch.ceil,
    "cos": torch.cos,
    "cosh": torch.cosh,
    "erf": torch.erf,
    "exp": torch.exp,
    "exp2": torch.exp2,
    "floor": torch.floor,
    "logical_not": torch.logical_not,
    "round": torch.round,
    "sign": torch.sign,
    "sin": torch.sin,
    "sinh": torch.sinh,
    "sqrt": torch.sqrt,
    "square": torch.square,
    "tan": torch.tan,
    "tanh": torch.tanh,
}
for _name, _fn in _UNARY.items():
    register(_name)(lambda ins, node, _fn=_fn: _fn(_operand(ins["x"])))


@register("log")
def log(ins, node):
    return torch.log(ins["x"] + scalar(ins.get("epsilon"), 1e-45))


@register("rsqrt")
def rsqrt(ins, node):
    return torch.rsqrt(ins["x"] + scalar(ins.get("epsilon"), 1e-12))


@register("inverse")
def inverse(ins, node):
    return 1.0 / (ins["x"] + scalar(ins.get("epsilon"), 1e-4))


@register("clip")
def clip(ins, node):
    return torch.clamp(ins["x"], scalar(ins["alpha"]), scalar(ins["beta"]))


@register("threshold")
def threshold(ins, node):
    return torch.clamp(ins["x"], min=scalar(ins["alpha"]))


#: value range of the integer types ``cast`` can produce (float inputs saturate to it)
_INT_RANGES = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-32768, 32767),
    "uint16": (0, 65535),
    "int32": (-(2**31), 2**31 - 1),
}


@register("cast")
def cast(ins, node):
    """Convert to ``dtype``. Float -> integer truncates toward zero and saturates at the
    target's range (NaN -> 0); integer -> narrower integer saturates; -> bool is ``x != 0``;
    -> fp16 rounds (via the declared output type)."""
    x = ins["x"]
    dtype = ins["dtype"]
    if dtype == "bool":
        return x != 0
    limits = _INT_RANGES.get(dtype)
    if limits is None:
        return x.to(torch.float32) if not x.is_floating_point() else x
    if x.is_floating_point():
        x = torch.nan_to_num(torch.trunc(x.to(torch.float64)), nan=0.0)
    elif x.dtype == torch.bool:
        x = x.to(torch.int64)
    return torch.clamp(x.to(torch.int64) if not x.is_floating_point() else x, *limits).to(
        torch.int64)
