"""Activation quantisation (iOS17 ``quantize`` / ``dequantize``) and ``conv_quantized``."""

from __future__ import annotations

import torch

from ..registry import register
from ._util import scalar
from .compression import _along_axis, _float
from .conv import conv

#: (low, high) of the integer types ``quantize`` produces.
_RANGES = {"uint8": (0, 255), "int8": (-128, 127)}
_DTYPES = {"uint8": torch.uint8, "int8": torch.int8}


def _params(ins, x):
    axis = ins.get("axis")
    axis = 0 if axis is None else int(scalar(axis))
    scale = _along_axis(_float(ins["scale"]), x.dim(), axis)
    zero = ins.get("zero_point")
    zero = None if zero is None else _along_axis(zero.to(torch.float32), x.dim(), axis)
    return scale, zero


@register("quantize", versions=("iOS17", "iOS18"))
def quantize(ins, node):
    """``q = clip(round_half_even(input / scale) + zero_point, dtype range)``."""
    x = ins["input"]
    dtype = ins["output_dtype"]
    scale, zero = _params(ins, x)
    q = torch.round(x / scale)
    if zero is not None:
        q = q + zero
    low, high = _RANGES[dtype]
    return torch.clamp(q, low, high).to(_DTYPES[dtype])


@register("dequantize", versions=("iOS17", "iOS18"))
def dequantize(ins, node):
    """``out = scale · (input − zero_point)``."""
    x = ins["input"]
    scale, zero = _params(ins, x)
    values = x.to(torch.float32)
    if zero is not None:
        values = values - zero
    return values * scale


@register("conv_quantized")
def conv_quantized(ins, node):
    """``conv`` with a uint8 weight: ``W = W_q · quant_scale + quant_bias`` (``linear``) or
    ``W = quant_scale[W_q]`` looked up per element (``lut``)."""
    weight = ins["weight"]
    scale, bias = _float(ins["quant_scale"]), _float(ins["quant_bias"])
    if ins["quantization_type"] == "lut":
        dense = scale.reshape(-1)[weight.to(torch.int64)]
    else:
        per_channel = [-1] + [1] * (weight.dim() - 1)
        s = scale.reshape(per_channel) if scale.numel() > 1 else scale.reshape(())
        b = bias.reshape(per_channel) if bias.numel() > 1 else bias.reshape(())
        dense = weight.to(torch.float32) * s + b
    return conv({**ins, "weight": dense}, node)
