"""Upsampling and resizing of the last two axes."""

from __future__ import annotations

import torch.nn.functional as F

from ..registry import register
from ._util import scalar


@register("upsample_nearest_neighbor")
def upsample_nearest_neighbor(ins, node):
    x = ins["x"]
    sh = float(scalar(ins.get("scale_factor_height"), 1))
    sw = float(scalar(ins.get("scale_factor_width"), 1))
    out_size = (int(x.shape[-2] * sh), int(x.shape[-1] * sw))
    return F.interpolate(x, size=out_size, mode="nearest")


@register("upsample_bilinear")
def upsample_bilinear(ins, node):
    x = ins["x"]
    sh = float(scalar(ins.get("scale_factor_height"), 1))
    sw = float(scalar(ins.get("scale_factor_width"), 1))
    align = bool(scalar(ins.get("align_corners"), True))
    half_pixel = bool(scalar(ins.get("half_pixel_centers"), not align))
    out_size = (int(x.shape[-2] * sh), int(x.shape[-1] * sw))
    if align:
        return F.interpolate(x, size=out_size, mode="bilinear", align_corners=True)
    if half_pixel:
        return F.interpolate(x, scale_factor=(sh, sw), mode="bilinear", align_corners=False,
                             recompute_scale_factor=False)
    # legacy mode: source coordinate = dst / scale, clamped at the edge
    return _bilinear_legacy(x, out_size, (sh, sw))


def _bilinear_legacy(x, size, scales):
    import torch

    def coords(n_out, n_in, scale):
        pos = torch.arange(n_out, dtype=torch.float32) / scale
        pos = pos.clamp(max=n_in - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (pos - lo).to(x.dtype)

    y0, y1, wy = coords(size[0], x.shape[-2], scales[0])
    x0, x1, wx = coords(size[1], x.shape[-1], scales[1])
    top = x[..., y0, :] * (1 - wy)[:, None] + x[..., y1, :] * wy[:, None]
    return top[..., x0] * (1 - wx) + top[..., x1] * wx
