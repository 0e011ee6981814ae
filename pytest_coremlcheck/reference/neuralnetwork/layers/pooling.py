"""Pooling: 2-D (MAX, AVERAGE, L2; valid, same, includeLastPixel padding; global) and 3-D.

2-D output sizes follow ``PoolingLayerParams``: ``valid``/``same`` as for convolution; with
``includeLastPixel`` (symmetric padding p, "ceil" mode)
``H_out = ⌈(H_in + 2p − K)/s⌉ + 1``, minus one when ``(H_out − 1)·s ≥ H_in + p`` and either
axis is padded (``paddingAmounts[0] > 0 or paddingAmounts[1] > 0``: the H rule depends on W's
padding too, as in Caffe, which the proto transcribes).
MAX ignores padded elements; AVERAGE divides by the number of input elements in the window when
``avgPoolExcludePadding``, else by the number of input-or-declared-padding elements; L2 is
√(Σ x²) over the window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import as_batched, restore
from .conv import _pair, padding_amounts, same_pads

MAX, AVERAGE, L2 = 0, 1, 2


@register("pooling")
def pooling(params, ctx):
    kind = params.type
    if kind not in (MAX, AVERAGE, L2):
        raise ctx.unsupported(f"pooling type {kind} is not implemented")
    exclude = params.avgPoolExcludePadding
    if params.globalPooling:
        return _global(kind)
    kh, kw = _pair(params.kernelSize, 3)
    sh, sw = _pair(params.stride, 1)
    pad_kind = params.WhichOneof("PoolingPaddingType") or "valid"
    valid = padding_amounts(params.valid) if pad_kind == "valid" else (0, 0, 0, 0)
    top_left = pad_kind == "same" and params.same.asymmetryMode == 1
    ph, pw = (0, 0)
    if pad_kind == "includeLastPixel":
        ph, pw = _pair(params.includeLastPixel.paddingAmounts, 0)

    def geometry(h: int, w: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """(declared pads, total pads incl. ceil-mode extension) as (top, bottom, left, right)."""
        if pad_kind == "same":
            pads = (*same_pads(h, kh, sh, top_left), *same_pads(w, kw, sw, top_left))
            return pads, pads
        if pad_kind == "valid":
            return valid, valid
        padded = ph > 0 or pw > 0
        extra_h = _ceil_extra(h, kh, sh, ph, padded)
        extra_w = _ceil_extra(w, kw, sw, pw, padded)
        return (ph, ph, pw, pw), (ph, ph + extra_h, pw, pw + extra_w)

    counts: dict[tuple[int, int], torch.Tensor] = {}

    def run(ins):
        x, lead = as_batched(ins[0], 3)
        h, w = x.shape[-2], x.shape[-1]
        declared, total = geometry(h, w)
        t, b, left, r = total
        if kind == MAX:
            if t == b and left == r and 2 * t <= kh and 2 * left <= kw:
                y = F.max_pool2d(x, (kh, kw), (sh, sw), (t, left))
            else:
                xp = F.pad(x, (left, r, t, b), value=float("-inf"))
                y = F.max_pool2d(xp, (kh, kw), (sh, sw))
        else:
            src = x * x if kind == L2 else x
            if not any(total):
                sums = F.avg_pool2d(src, (kh, kw), (sh, sw), divisor_override=1)
                y = torch.sqrt(sums) if kind == L2 else sums / (kh * kw)
            else:
                sums = F.avg_pool2d(F.pad(src, (left, r, t, b)), (kh, kw), (sh, sw),
                                    divisor_override=1)
                if kind == L2:
                    y = torch.sqrt(sums)
                else:
                    key = (h, w)
                    if key not in counts:
                        counts[key] = _counts(h, w, declared, total, (kh, kw), (sh, sw),
                                              exclude, x.dtype)
                    y = sums / counts[key]
        if pad_kind == "includeLastPixel":
            padded = ph > 0 or pw > 0
            y = y[..., :ceil_out(h, kh, sh, ph, padded), :ceil_out(w, kw, sw, pw, padded)]
        return restore(y, lead, 3, ins[0].dim())
    return run


def ceil_out(size: int, k: int, s: int, p: int, padded: bool) -> int:
    """includeLastPixel's output size; ``padded``: either axis has padding (the condition
    for dropping a last window that starts past the input)."""
    out = -(-(size + 2 * p - k) // s) + 1
    if padded and (out - 1) * s >= size + p:
        out -= 1
    return out


def _ceil_extra(size: int, k: int, s: int, p: int, padded: bool) -> int:
    """End padding beyond p that includeLastPixel's ceil-mode output needs."""
    return max(0, (ceil_out(size, k, s, p, padded) - 1) * s + k - (size + 2 * p))


def _counts(h, w, declared, total, kernel, stride, exclude, dtype) -> torch.Tensor:
    """Divisor per output position: input (and, unless excluded, declared padding) elements."""
    t, b, left, r = total
    mask = torch.ones(1, 1, h, w, dtype=dtype)
    if exclude:
        mask = F.pad(mask, (left, r, t, b))
    else:
        dt, db, dl, dr = declared
        mask = F.pad(mask, (dl, dr, dt, db), value=1.0)
        mask = F.pad(mask, (left - dl, r - dr, t - dt, b - db))
    counts = F.avg_pool2d(mask, kernel, stride, divisor_override=1)[0, 0]
    return counts.clamp(min=1.0)


def _global(kind):
    def run(ins):
        x = ins[0]
        if kind == MAX:
            return x.amax(dim=(-2, -1), keepdim=True)
        if kind == AVERAGE:
            return x.mean(dim=(-2, -1), keepdim=True)
        return torch.sqrt((x * x).sum(dim=(-2, -1), keepdim=True))
    return run


@register("pooling3d")
def pooling3d(params, ctx):
    """3-D MAX/AVERAGE pooling of [B, C, D, H, W]; padding CUSTOM, VALID or SAME (the odd
    element at the end); ``countExcludePadding`` for AVERAGE."""
    kernel = (int(params.kernelDepth), int(params.kernelHeight), int(params.kernelWidth))
    stride = tuple(int(v) or 1 for v in (params.strideDepth, params.strideHeight,
                                         params.strideWidth))
    custom = [int(v) for v in (params.customPaddingFront, params.customPaddingBack,
                               params.customPaddingTop, params.customPaddingBottom,
                               params.customPaddingLeft, params.customPaddingRight)]
    mode = params.paddingType  # 0 CUSTOM, 1 VALID, 2 SAME
    is_max = params.type == 0
    exclude = params.countExcludePadding

    def pads_for(sizes):
        if mode == 0:
            return custom
        if mode == 1:
            return [0] * 6
        pads = []
        for size, k, s in zip(sizes, kernel, stride):
            pads += list(same_pads(size, k, s, False))
        return pads

    def run(ins):
        x = ins[0]
        pads = pads_for(x.shape[2:])
        torch_pads = (pads[4], pads[5], pads[2], pads[3], pads[0], pads[1])
        if is_max:
            xp = F.pad(x, torch_pads, value=float("-inf")) if any(pads) else x
            return F.max_pool3d(xp, kernel, stride)
        sums = F.avg_pool3d(F.pad(x, torch_pads) if any(pads) else x, kernel, stride,
                            divisor_override=1)
        if not exclude or not any(pads):
            return sums / (kernel[0] * kernel[1] * kernel[2])
        mask = F.pad(torch.ones(1, 1, *x.shape[2:], dtype=x.dtype), torch_pads)
        counts = F.avg_pool3d(mask, kernel, stride, divisor_override=1)[0, 0]
        return sums / counts.clamp(min=1.0)
    return run


@register("globalPooling3d")
def global_pooling3d(params, ctx):
    is_max = params.type == 0

    def run(ins):
        dims = (-3, -2, -1)
        return ins[0].amax(dim=dims, keepdim=True) if is_max else \
            ins[0].mean(dim=dims, keepdim=True)
    return run
