"""Convolution (2-D and 3-D, grouped, dilated, transposed) and the padding rules they share.

2-D padding (``ConvolutionLayerParams``; also used by pooling):

- ``valid`` with ``paddingAmounts`` [H, W] (start, end): zeros added, then a plain convolution;
  ``H_out = ⌊(H_in + top + bottom − K_eff)/s⌋ + 1`` with ``K_eff = (K − 1)·d + 1``;
- ``same``: ``H_out = ⌈H_in/s⌉``, total padding ``max(0, (H_out − 1)·s + K_eff − H_in)``, the
  smaller half first (``BOTTOM_RIGHT_HEAVY``) or last (``TOP_LEFT_HEAVY``).

Deconvolution (``isDeconvolution``, weights ``[C_in, C_out/groups, kH, kW]``): the full
transposed convolution ``(H_in − 1)·s + K_eff`` is cropped — by the valid padding amounts
(``H_out = full − top − bottom``), or for ``same`` to ``H_out = H_in·s`` dropping the smaller
half of the excess first. When ``outputShape`` is set, the crop starts at the padding's start
offset and keeps ``outputShape`` rows/columns, extending with zeros (before bias) if needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import as_batched, restore


def same_pads(size: int, kernel: int, stride: int, top_left_heavy: bool) -> tuple[int, int]:
    """(start, end) padding giving ``ceil(size / stride)`` outputs."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + kernel - size)
    small, large = total // 2, total - total // 2
    return (large, small) if top_left_heavy else (small, large)


def padding_amounts(params) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a ``ValidPadding.paddingAmounts``."""
    amounts = params.paddingAmounts.borderAmounts
    if len(amounts) == 0:
        return (0, 0, 0, 0)
    h, w = amounts[0], amounts[1] if len(amounts) > 1 else amounts[0]
    return (int(h.startEdgeSize), int(h.endEdgeSize), int(w.startEdgeSize), int(w.endEdgeSize))


def _pair(values, default: int) -> tuple[int, int]:
    v = [int(x) for x in values]
    if not v:
        return (default, default)
    return (v[0], v[1] if len(v) > 1 else v[0])


@register("convolution")
def convolution(params, ctx):
    groups = int(params.nGroups) or 1
    c_out = int(params.outputChannels)
    k_ch = int(params.kernelChannels)
    kh, kw = _pair(params.kernelSize, 3)
    sh, sw = _pair(params.stride, 1)
    dh, dw = _pair(params.dilationFactor, 1)
    deconv = params.isDeconvolution
    pad_kind = params.WhichOneof("ConvolutionPaddingType") or "valid"
    bias = None
    if params.hasBias:
        bias = ctx.trainable("bias", ctx.weights(params.bias, (c_out,), "bias"))
    if ctx.n_inputs == 2:
        if deconv:
            raise ctx.unsupported("deconvolution with weights from a second input is not "
                                  "implemented")
        weight = None
    elif deconv:
        weight = ctx.weights(params.weights, (k_ch, c_out // groups, kh, kw), "weights", axis=1)
    else:
        weight = ctx.trainable("weights",
                               ctx.weights(params.weights, (c_out, k_ch, kh, kw), "weights"))
    keff_h, keff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    top_left = pad_kind == "same" and params.same.asymmetryMode == 1
    valid = padding_amounts(params.valid) if pad_kind == "valid" else (0, 0, 0, 0)

    if deconv:
        out_shape = [int(v) for v in params.outputShape]
        return _deconvolution(weight, bias, (sh, sw), (dh, dw), groups, (keff_h, keff_w),
                              pad_kind, valid, top_left, out_shape)

    def pads_for(h: int, w: int) -> tuple[int, int, int, int]:
        if pad_kind == "same":
            return (*same_pads(h, keff_h, sh, top_left), *same_pads(w, keff_w, sw, top_left))
        return valid

    stride, dilation = (sh, sw), (dh, dw)
    t0, b0, l0, r0 = valid
    if pad_kind == "valid" and t0 == b0 and l0 == r0 and weight is not None:
        symmetric = (t0, l0)

        def run_fixed(ins):
            x = ins[0]
            if x.dim() == 4:
                return F.conv2d(x, weight, bias, stride, symmetric, dilation, groups)
            xb, lead = as_batched(x, 3)
            y = F.conv2d(xb, weight, bias, stride, symmetric, dilation, groups)
            return restore(y, lead, 3, x.dim())
        return run_fixed

    def run(ins):
        x, lead = as_batched(ins[0], 3)
        w = weight if weight is not None else ins[1]
        t, b, left, r = pads_for(x.shape[-2], x.shape[-1])
        if t == b and left == r:
            y = F.conv2d(x, w, bias, stride, (t, left), dilation, groups)
        else:
            x = F.pad(x, (left, r, t, b))
            y = F.conv2d(x, w, bias, stride, 0, dilation, groups)
        return restore(y, lead, 3, ins[0].dim())
    return run


def _deconvolution(weight, bias, stride, dilation, groups, keff, pad_kind, valid, top_left,
                   out_shape):
    def crop(full: torch.Tensor, size_in: int, axis: int) -> tuple[int, int]:
        """(start, length) of the kept part of the full output along ``axis`` (0: H, 1: W)."""
        full_len = full.shape[-2 + axis]
        if pad_kind == "same":
            target = out_shape[axis] if out_shape else size_in * stride[axis]
            excess = max(0, full_len - target)
            start = excess - excess // 2 if top_left else excess // 2
        else:
            start = valid[2 * axis]
            target = out_shape[axis] if out_shape else full_len - start - valid[2 * axis + 1]
        return start, target

    def run(ins):
        x, lead = as_batched(ins[0], 3)
        full = F.conv_transpose2d(x, weight, None, stride, 0, 0, groups, dilation)
        h0, hl = crop(full, x.shape[-2], 0)
        w0, wl = crop(full, x.shape[-1], 1)
        y = full[..., h0:h0 + hl, w0:w0 + wl]
        if y.shape[-2] < hl or y.shape[-1] < wl:
            y = F.pad(y, (0, wl - y.shape[-1], 0, hl - y.shape[-2]))
        if bias is not None:
            y = y + bias.reshape(-1, 1, 1)
        return restore(y, lead, 3, ins[0].dim())
    return run


@register("convolution3d")
def convolution3d(params, ctx):
    """3-D convolution of [B, C, D, H, W]; padding CUSTOM (front/back, top/bottom,
    left/right), VALID, or SAME (``ceil(in/s)`` outputs, the odd element at the end)."""
    groups = int(params.nGroups) or 1
    c_out, c_in = int(params.outputChannels), int(params.inputChannels)
    kernel = (int(params.kernelDepth), int(params.kernelHeight), int(params.kernelWidth))
    stride = tuple(int(v) or 1 for v in (params.strideDepth, params.strideHeight,
                                         params.strideWidth))
    dilation = tuple(int(v) or 1 for v in (params.dilationDepth, params.dilationHeight,
                                           params.dilationWidth))
    deconv = params.isDeconvolution
    if deconv:
        weight = ctx.weights(params.weights, (c_in, c_out // groups, *kernel), "weights",
                             axis=1)
    else:
        weight = ctx.weights(params.weights, (c_out, c_in // groups, *kernel), "weights")
    bias = ctx.weights(params.bias, (c_out,), "bias") if params.hasBias else None
    custom = (params.customPaddingFront, params.customPaddingBack, params.customPaddingTop,
              params.customPaddingBottom, params.customPaddingLeft, params.customPaddingRight)
    keff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    mode = params.paddingType  # 0 CUSTOM, 1 VALID, 2 SAME
    out_shape = [int(v) for v in params.outputShape]

    def pads_for(sizes) -> list[int]:
        if mode == 0:
            return [int(p) for p in custom]
        if mode == 1:
            return [0] * 6
        pads = []
        for size, k, s in zip(sizes, keff, stride):
            pads += list(same_pads(size, k, s, False))
        return pads

    if deconv:
        def run_deconv(ins):
            x = ins[0]
            full = F.conv_transpose3d(x, weight, None, stride, 0, 0, groups, dilation)
            slices, missing = [], []
            for axis in range(3):
                full_len = full.shape[2 + axis]
                if mode == 2:
                    target = out_shape[axis] if out_shape else x.shape[2 + axis] * stride[axis]
                    excess = max(0, full_len - target)
                    start = excess // 2
                else:
                    start = int(custom[2 * axis]) if mode == 0 else 0
                    end = int(custom[2 * axis + 1]) if mode == 0 else 0
                    target = out_shape[axis] if out_shape else full_len - start - end
                slices.append(slice(start, start + target))
                missing.append(max(0, start + target - full_len))
            y = full[:, :, slices[0], slices[1], slices[2]]
            if any(missing):  # an outputShape past the full transposed conv: zeros at the end
                y = F.pad(y, (0, missing[2], 0, missing[1], 0, missing[0]))
            if bias is not None:
                y = y + bias.reshape(-1, 1, 1, 1)
            return y
        return run_deconv

    def run(ins):
        x = ins[0]
        pads = pads_for(x.shape[2:])
        if any(pads):
            x = F.pad(x, (pads[4], pads[5], pads[2], pads[3], pads[0], pads[1]))
        return F.conv3d(x, weight, bias, stride, 0, dilation, groups)
    return run
