"""Spatial layers: padding, crop, upsample, resize, crop-resize, space/depth reorganisation.

Bilinear sampling grids (1-D, input size X, output size N, points clipped to [0, X − 1]):

===================================== ================================================
upsample DEFAULT / UPSAMPLE_MODE       i·(X − X/N)/(N − 1)  (= i/scale for integer scales)
ALIGN_CORNERS_TRUE / STRICT_ALIGN      i·(X − 1)/(N − 1)
ALIGN_ENDPOINTS_MODE                   as STRICT_ALIGN, but (X − 1)/2 when N = 1
ALIGN_CORNERS_FALSE                    (i + 0.5)·X/N − 0.5
ROI_ALIGN_MODE                         (i + 0.5)·max(1, X − 1)/N
===================================== ================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import as_batched, ints_of, restore


@register("padding")
def padding(params, ctx):
    """Pad the last two axes: constant value, reflection (mirror without the edge) or
    replication (edge repeated)."""
    amounts = params.paddingAmounts.borderAmounts
    if len(amounts) == 0:
        pads = (0, 0, 0, 0)
    else:
        h, w = amounts[0], amounts[1] if len(amounts) > 1 else amounts[0]
        pads = (int(w.startEdgeSize), int(w.endEdgeSize), int(h.startEdgeSize),
                int(h.endEdgeSize))
    kind = params.WhichOneof("PaddingType") or "constant"
    if kind == "constant":
        value = params.constant.value
        return lambda ins: F.pad(ins[0], pads, value=value)
    mode = "reflect" if kind == "reflection" else "replicate"

    def run(ins):
        x = ins[0]
        lead = x.shape[:-2]
        y = F.pad(x.reshape(-1, 1, *x.shape[-2:]), pads, mode=mode)
        return y.reshape(*lead, *y.shape[-2:])
    return run


@register("constantPad")
def constant_pad(params, ctx):
    """Pad with ``value``; ``padAmounts`` = [begin₀, end₀, begin₁, end₁, …] for the last axes
    (or the second input). With ``padToGivenOutputSizeMode`` a non-zero entry is the wanted
    output size and the padding on that side is ``max(0, size − input size)``."""
    value = params.value
    fixed = [int(v) for v in params.padAmounts]
    to_size = params.padToGivenOutputSizeMode

    def run(ins):
        x = ins[0]
        amounts = ints_of(ins[1]) if len(ins) > 1 else fixed
        pairs = [amounts[i:i + 2] for i in range(0, len(amounts), 2)]
        first = x.dim() - len(pairs)
        if to_size:
            pairs = [[max(0, b - x.shape[first + i]) if b else 0,
                      max(0, e - x.shape[first + i]) if e else 0]
                     for i, (b, e) in enumerate(pairs)]
        torch_pads = [p for pair in reversed(pairs) for p in pair]
        return F.pad(x, torch_pads, value=value)
    return run


@register("crop")
def crop(params, ctx):
    """One input: drop the crop amounts from the last two axes. Two inputs: keep the second
    input's H×W starting at ``offset`` [H, W]."""
    if ctx.n_inputs >= 2:
        off = [int(v) for v in params.offset] or [0, 0]

        def run2(ins):
            h, w = ins[1].shape[-2], ins[1].shape[-1]
            return ins[0][..., off[0]:off[0] + h, off[1]:off[1] + w]
        return run2
    amounts = params.cropAmounts.borderAmounts
    if len(amounts) == 0:
        return lambda ins: ins[0]
    h, w = amounts[0], amounts[1] if len(amounts) > 1 else amounts[0]
    t, b, left, r = (int(h.startEdgeSize), int(h.endEdgeSize), int(w.startEdgeSize),
                     int(w.endEdgeSize))

    def run(ins):
        x = ins[0]
        return x[..., t:x.shape[-2] - b, left:x.shape[-1] - r]
    return run


def grid(mode: str, x_in: int, n_out: int) -> torch.Tensor:
    """Sampling positions (float64) of ``n_out`` outputs over an input of ``x_in`` samples."""
    i = torch.arange(n_out, dtype=torch.float64)
    if mode == "upsample":
        spacing = (x_in - x_in / n_out) / (n_out - 1) if n_out > 1 else 0.0
        pos = i * spacing
    elif mode in ("strict_align", "align"):
        if n_out == 1:
            pos = torch.full((1,), (x_in - 1) / 2.0 if mode == "align" else 0.0,
                             dtype=torch.float64)
        else:
            pos = i * (x_in - 1) / (n_out - 1)
    elif mode == "half_pixel":
        spacing = x_in / n_out
        pos = i * spacing + 0.5 * spacing - 0.5
    elif mode == "roi_align":
        delta = max(1, x_in - 1) / n_out
        pos = 0.5 * delta + i * delta
    else:
        raise ValueError(f"unknown sampling mode {mode!r}")
    return pos.clamp(0, max(x_in - 1, 0))


def _lerp_axis(x: torch.Tensor, pos: torch.Tensor, axis: int) -> torch.Tensor:
    """Linear interpolation of ``x`` along ``axis`` at positions ``pos`` (in input samples)."""
    size = x.shape[axis]
    lo = pos.floor().to(torch.int64).clamp(0, size - 1)
    hi = (lo + 1).clamp(max=size - 1)
    frac = (pos - lo.to(pos.dtype)).to(x.dtype)
    view = [1] * x.dim()
    view[axis] = -1
    a = x.index_select(axis, lo)
    b = x.index_select(axis, hi)
    return a + (b - a) * frac.reshape(view)


def bilinear(x: torch.Tensor, pos_h: torch.Tensor, pos_w: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling of the last two axes at the given row / column positions."""
    return _lerp_axis(_lerp_axis(x, pos_h, x.dim() - 2), pos_w, x.dim() - 1)


_UPSAMPLE_LINEAR = {0: "upsample", 1: "strict_align", 2: "half_pixel"}


@register("upsample")
def upsample(params, ctx):
    """NN: repeat each pixel scalingFactor times; BILINEAR: sample on the ``linearUpsampleMode``
    grid. Fractional factors give ⌊X·factor⌋ outputs."""
    frac = [float(v) for v in params.fractionalScalingFactor]
    ints = [int(v) for v in params.scalingFactor]
    if frac:
        factors = (frac[0], frac[1] if len(frac) > 1 else frac[0])
    elif ints:
        factors = (ints[0], ints[1] if len(ints) > 1 else ints[0])
    else:
        factors = (1, 1)
    bilinear_mode = params.mode == 1
    grid_mode = _UPSAMPLE_LINEAR.get(params.linearUpsampleMode, "upsample")
    cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def out_size(n: int, f) -> int:
        return int(math.floor(n * f + 1e-6))

    def run(ins):
        x = ins[0]
        h, w = x.shape[-2], x.shape[-1]
        ho, wo = out_size(h, factors[0]), out_size(w, factors[1])
        if not bilinear_mode:
            if isinstance(factors[0], int) and isinstance(factors[1], int):
                return x.repeat_interleave(factors[0], dim=-2).repeat_interleave(
                    factors[1], dim=-1)
            rows = (torch.arange(ho) * h // ho).clamp(max=h - 1)
            cols = (torch.arange(wo) * w // wo).clamp(max=w - 1)
            return x.index_select(-2, rows).index_select(-1, cols)
        key = (h, w)
        if key not in cache:
            cache[key] = (grid(grid_mode, h, ho), grid(grid_mode, w, wo))
        ph, pw = cache[key]
        return bilinear(x, ph, pw)
    return run


_SAMPLING = {0: "strict_align", 1: "align", 2: "upsample", 3: "roi_align"}


@register("resizeBilinear")
def resize_bilinear(params, ctx):
    """Bilinear resize of the last two axes to ``targetSize`` on the ``mode`` grid."""
    size = [int(v) for v in params.targetSize] or [1, 1]
    mode = _SAMPLING.get(params.mode.samplingMethod, "strict_align")
    cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def run(ins):
        x = ins[0]
        key = (x.shape[-2], x.shape[-1])
        if key not in cache:
            cache[key] = (grid(mode, key[0], size[0]), grid(mode, key[1], size[1]))
        return bilinear(x, *cache[key])
    return run


def _box_positions(mode: str, start: float, end: float, n: int) -> torch.Tensor:
    """Sampling positions inside [start, end] (an interval of end − start + 1 samples)."""
    length = end - start
    if mode == "roi_align":
        delta = max(1.0, length) / n
        pos = start + 0.5 * delta + torch.arange(n, dtype=torch.float64) * delta
    elif mode == "upsample":
        x_in = length + 1
        spacing = (x_in - x_in / n) / (n - 1) if n > 1 else 0.0
        pos = start + torch.arange(n, dtype=torch.float64) * spacing
    elif n == 1:
        pos = torch.tensor([start + length / 2.0 if mode == "align" else start],
                           dtype=torch.float64)
    else:
        pos = start + torch.arange(n, dtype=torch.float64) * length / (n - 1)
    return torch.minimum(pos, torch.tensor(max(start, end), dtype=torch.float64))


@register("cropResize")
def crop_resize(params, ctx):
    """Crop boxes from a [1, B, C, H, W] input and resize them bilinearly to ``targetSize``.

    Boxes [N, 1, 4, 1, 1] (every box from every batch item → [N, B, C, h, w]) or
    [N, 1, 5, 1, 1] (batch index first → [N, 1, C, h, w]); coordinates in ``boxIndicesMode``,
    scaled by (H − 1, W − 1) when normalised and by ``spatialScale``.
    """
    th, tw = ([int(v) for v in params.targetSize] or [1, 1])[:2]
    mode = _SAMPLING.get(params.mode.samplingMethod, "strict_align")
    box_mode = params.boxIndicesMode.boxMode
    normalized = params.normalizedCoordinates
    scale = params.spatialScale or 1.0

    def corners(b):
        if box_mode == 0:
            return b[0], b[1], b[2], b[3]
        if box_mode == 1:
            return b[1], b[0], b[3], b[2]
        if box_mode == 2:
            return b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
        return b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2

    def run(ins):
        x, rois = ins[0], ins[1]
        if x.dim() == 4:
            x = x.unsqueeze(0)
        h, w = x.shape[-2], x.shape[-1]
        boxes = rois.reshape(rois.shape[0], -1).to(torch.float64).tolist()
        crops = []
        for box in boxes:
            index = None
            if len(box) == 5:
                index, box = int(box[0]), box[1:]
            hs, ws, he, we = corners(box)
            if normalized:
                hs, he, ws, we = hs * (h - 1), he * (h - 1), ws * (w - 1), we * (w - 1)
            hs, he, ws, we = hs * scale, he * scale, ws * scale, we * scale
            ph = _box_positions(mode, hs, he, th).clamp(0, h - 1)
            pw = _box_positions(mode, ws, we, tw).clamp(0, w - 1)
            src = x[0] if index is None else x[0, index:index + 1]
            crops.append(bilinear(src, ph, pw))
        return torch.stack(crops, dim=0)
    return run


@register("reorganizeData")
def reorganize_data(params, ctx):
    """SPACE_TO_DEPTH: [C, H, W] → [C·b², H/b, W/b] with out[(i·b + j)·C + c, y, x] =
    in[c, y·b + i, x·b + j]; DEPTH_TO_SPACE its inverse; PIXEL_SHUFFLE: out[c, y·b + i, x·b + j]
    = in[c·b² + i·b + j, y, x]."""
    b = int(params.blockSize)
    mode = params.mode

    def run(ins):
        x, lead = as_batched(ins[0], 3)
        n, c, h, w = x.shape
        if mode == 0:
            y = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
            y = y.reshape(n, c * b * b, h // b, w // b)
        elif mode == 1:
            c2 = c // (b * b)
            y = x.reshape(n, b, b, c2, h, w).permute(0, 3, 4, 1, 5, 2)
            y = y.reshape(n, c2, h * b, w * b)
        else:
            y = F.pixel_shuffle(x, b)
        return restore(y, lead, 3, ins[0].dim())
    return run
