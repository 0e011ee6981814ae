"""Resizing and resampling of the trailing spatial axes.

Bilinear ops sample a grid of source coordinates per axis (``grid_points``: the sampling
modes of ``resize_bilinear``), then interpolate linearly between the two neighbouring
pixels; the axes are separable. ``resample`` / ``affine`` sample arbitrary 2-D points with
padding modes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._util import ints, scalar


def grid_points(n_in: int, n_out: int, mode: str) -> torch.Tensor:
    """Source coordinate of each of ``n_out`` samples over an axis of ``n_in`` pixels.

    - ``STRICT_ALIGN_CORNERS``: ``i·(n_in − 1)/(n_out − 1)`` (0 when n_out = 1)
    - ``ALIGN_CORNERS``: the same, but ``(n_in − 1)/2`` when n_out = 1
    - ``DEFAULT``: ``i·n_in/n_out``
    - ``OFFSET_CORNERS``: ``(i + 0.5)·δ`` with ``δ = max(1, n_in − 1)/n_out``
    - ``UNALIGN_CORNERS`` (half-pixel centres): ``(i + 0.5)·n_in/n_out − 0.5``

    Every point is clamped to ``[0, n_in − 1]``.
    """
    i = torch.arange(n_out, dtype=torch.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if n_out == 1:
            pos = torch.full((1,), (n_in - 1) / 2 if mode == "ALIGN_CORNERS" else 0.0,
                             dtype=torch.float64)
        else:
            pos = i * (n_in - 1) / (n_out - 1)
    elif mode == "DEFAULT":
        pos = i * n_in / n_out
    elif mode == "OFFSET_CORNERS":
        pos = (i + 0.5) * max(1, n_in - 1) / n_out
    elif mode == "UNALIGN_CORNERS":
        pos = (i + 0.5) * n_in / n_out - 0.5
    else:
        raise ValueError(f"unknown sampling mode {mode!r}")
    return pos.clamp(0, n_in - 1)


def lerp_axis(x: torch.Tensor, axis: int, pos: torch.Tensor) -> torch.Tensor:
    """``x`` sampled along ``axis`` at fractional positions ``pos`` (linear interpolation)."""
    n = x.shape[axis]
    lo = pos.floor().clamp(0, n - 1)
    frac = (pos - lo).to(torch.float32)
    lo = lo.long()
    hi = (lo + 1).clamp(max=n - 1)
    view = [1] * x.dim()
    view[axis] = -1
    frac = frac.reshape(view)
    a, b = x.index_select(axis, lo), x.index_select(axis, hi)
    return a + (b - a) * frac


def nearest_axis(x: torch.Tensor, axis: int, index: torch.Tensor) -> torch.Tensor:
    return x.index_select(axis, index.long().clamp(0, x.shape[axis] - 1))


def _as_float(x):
    return x if x.is_floating_point() else x.to(torch.float32)


def resize_linear(x: torch.Tensor, sizes: list[int], mode: str) -> torch.Tensor:
    """Bilinear (multi-linear) resize of the last ``len(sizes)`` axes with ``mode`` grids."""
    x = _as_float(x)
    fast = {"STRICT_ALIGN_CORNERS": True, "UNALIGN_CORNERS": False}
    if mode in fast and len(sizes) == 2 and x.dim() == 4 and min(sizes) > 1:
        return F.interpolate(x, size=sizes, mode="bilinear", align_corners=fast[mode])
    out = x
    for k, size in enumerate(sizes):
        axis = x.dim() - len(sizes) + k
        if out.shape[axis] != size or mode != "DEFAULT":
            out = lerp_axis(out, axis, grid_points(out.shape[axis], size, mode))
    return out


def resize_nearest(x: torch.Tensor, sizes: list[int], mode: str = "DEFAULT") -> torch.Tensor:
    """Nearest-neighbour resize of the last ``len(sizes)`` axes.

    - ``LEGACY`` (``upsample_nearest_neighbor``): source ``floor(i·n_in/n_out)``
    - ``DEFAULT`` (``resize_nearest_neighbor``, ``resize``): half-pixel centres,
      ``floor((i + 0.5)·n_in/n_out)``
    - other modes: the ``grid_points`` coordinate rounded to the nearest pixel
    """
    out = x
    for k, size in enumerate(sizes):
        axis = x.dim() - len(sizes) + k
        n_in = out.shape[axis]
        i = torch.arange(size, dtype=torch.float64)
        if mode == "LEGACY":
            index = torch.floor(i * n_in / size + 1e-9)
        elif mode == "DEFAULT":
            index = torch.floor((i + 0.5) * n_in / size + 1e-9)
        else:
            index = torch.floor(grid_points(n_in, size, mode) + 0.5)
        out = nearest_axis(out, axis, index)
    return out


# --------------------------------------------------------------------------- upsample / resize


def _scales(ins):
    return (float(scalar(ins.get("scale_factor_height"), 1)),
            float(scalar(ins.get("scale_factor_width"), 1)))


@register("upsample_nearest_neighbor")
def upsample_nearest_neighbor(ins, node):
    """Size ``floor(H·s_h) × floor(W·s_w)``; ``out[h, w] = x[floor(h·H/H_out), floor(w·W/W_out)]``
    (the scale recomputed from the sizes)."""
    x = ins["x"]
    sh, sw = _scales(ins)
    sizes = [int(x.shape[-2] * sh), int(x.shape[-1] * sw)]
    if sh == int(sh) and sw == int(sw) and x.is_floating_point() and 3 <= x.dim() <= 5:
        return F.interpolate(x.reshape((-1,) + tuple(x.shape[-3:])), size=sizes,
                             mode="nearest").reshape(tuple(x.shape[:-2]) + tuple(sizes))
    return resize_nearest(x, sizes, "LEGACY")


def _upsample_bilinear(x, sh, sw, align, half_pixel):
    sizes = [int(x.shape[-2] * sh), int(x.shape[-1] * sw)]
    if align:
        mode = "STRICT_ALIGN_CORNERS"
    elif half_pixel:
        mode = "UNALIGN_CORNERS"
    else:
        mode = "DEFAULT"
    return resize_linear(x, sizes, mode)


@register("upsample_bilinear", versions=("iOS15",))
def upsample_bilinear(ins, node):
    """Size ``floor(H·s_h) × floor(W·s_w)``; ``align_corners`` -> ``STRICT_ALIGN_CORNERS``
    grids, else half-pixel centres (``UNALIGN_CORNERS``)."""
    sh, sw = _scales(ins)
    align = bool(scalar(ins.get("align_corners"), True))
    return _upsample_bilinear(ins["x"], sh, sw, align, not align)


@register("upsample_bilinear", versions=("iOS16", "iOS17", "iOS18"))
def upsample_bilinear_ios16(ins, node):
    """iOS16: ``half_pixel_centers`` (default ``not align_corners``); with both false the
    grid is ``i·H/H_out`` (``DEFAULT``)."""
    sh, sw = _scales(ins)
    align = bool(scalar(ins.get("align_corners"), True))
    half_pixel = bool(scalar(ins.get("half_pixel_centers"), not align))
    return _upsample_bilinear(ins["x"], sh, sw, align, half_pixel)


@register("resize_bilinear")
def resize_bilinear(ins, node):
    x = ins["x"]
    sizes = [int(scalar(ins.get("target_size_height"), 1)),
             int(scalar(ins.get("target_size_width"), 1))]
    return resize_linear(x, sizes, ins.get("sampling_mode") or "DEFAULT")


@register("resize_nearest_neighbor")
def resize_nearest_neighbor(ins, node):
    """Half-pixel centres: ``out[h, w] = x[floor((h + ½)·H/H_out), floor((w + ½)·W/W_out)]``."""
    x = ins["x"]
    sizes = [int(scalar(ins["target_size_height"])), int(scalar(ins["target_size_width"]))]
    return resize_nearest(x, sizes)


@register("resize", versions=("iOS17", "iOS18"))
def resize(ins, node):
    """Resize the last ``resized_dims`` axes to the last entries of ``shape`` (0 keeps the
    input's size), ``LINEAR`` or ``NEAREST_NEIGHBOR``, with ``sampling_mode`` grids."""
    x = ins["x"]
    dims = int(scalar(ins["resized_dims"]))
    if dims == 0:
        return x
    target = ints(ins["shape"])[-dims:]
    sizes = [x.shape[x.dim() - dims + k] if t == 0 else t for k, t in enumerate(target)]
    mode = ins.get("sampling_mode") or "DEFAULT"
    if (ins.get("interpolation_mode") or "LINEAR") == "NEAREST_NEIGHBOR":
        return resize_nearest(x, sizes, mode)
    return resize_linear(x, sizes, mode)


# --------------------------------------------------------------------------- crop_resize


def _boxes_to_corners(boxes: torch.Tensor, mode: str) -> torch.Tensor:
    """``[N, 4]`` boxes as (h_start, w_start, h_end, w_end)."""
    a, b, c, d = boxes.unbind(-1)
    if mode == "CORNERS_HEIGHT_FIRST":
        return torch.stack([a, b, c, d], -1)
    if mode == "CORNERS_WIDTH_FIRST":
        return torch.stack([b, a, d, c], -1)
    if mode == "CENTER_SIZE_HEIGHT_FIRST":
        return torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], -1)
    if mode == "CENTER_SIZE_WIDTH_FIRST":
        return torch.stack([b - d / 2, a - c / 2, b + d / 2, a + c / 2], -1)
    raise ValueError(f"unknown box_coordinate_mode {mode!r}")


def _box_points(start, end, n, mode):
    """Sample positions inside ``[start, end]`` (pixel coordinates) for ``n`` outputs."""
    span = end - start
    i = torch.arange(n, dtype=torch.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if n == 1:
            return torch.full((1,), start + (span / 2 if mode == "ALIGN_CORNERS" else 0.0),
                              dtype=torch.float64)
        return start + i * span / (n - 1)
    if mode == "DEFAULT":
        return start + i * (span + 1) / n
    if mode == "OFFSET_CORNERS":
        return start + (i + 0.5) * span / n
    if mode == "UNALIGN_CORNERS":
        return start + (i + 0.5) * (span + 1) / n - 0.5
    raise ValueError(f"unknown sampling mode {mode!r}")


def _crop_resize(x, boxes, indices, ins):
    """``[N, C, th, tw]``: box i of image ``indices[i]`` resampled bilinearly; samples outside
    the image take ``pad_value``."""
    th = int(scalar(ins.get("target_height"), 1))
    tw = int(scalar(ins.get("target_width"), 1))
    h, w = x.shape[-2], x.shape[-1]
    corners = _boxes_to_corners(boxes.to(torch.float64),
                                ins.get("box_coordinate_mode") or "CORNERS_HEIGHT_FIRST")
    if bool(scalar(ins.get("normalized_coordinates"), False)):
        corners = corners * torch.tensor([h - 1, w - 1, h - 1, w - 1], dtype=torch.float64)
    corners = corners * float(scalar(ins.get("spatial_scale"), 1.0))
    mode = ins.get("sampling_mode") or "DEFAULT"
    pad_value = float(scalar(ins.get("pad_value"), 0.0))
    x = _as_float(x)
    outs = []
    for k in range(corners.shape[0]):
        y1, x1, y2, x2 = corners[k].tolist()
        ys, xs = _box_points(y1, y2, th, mode), _box_points(x1, x2, tw, mode)
        image = x[int(indices[k])]
        patch = lerp_axis(lerp_axis(image, -2, ys.clamp(0, h - 1)), -1, xs.clamp(0, w - 1))
        outside = ((ys < 0) | (ys > h - 1)).reshape(-1, 1) | ((xs < 0) | (xs > w - 1)).reshape(
            1, -1)
        outs.append(torch.where(outside, torch.tensor(pad_value, dtype=patch.dtype), patch))
    return torch.stack(outs)


@register("crop_resize", versions=("iOS15", "iOS16"))
def crop_resize(ins, node):
    """roi ``[N, 1, 4|5, 1, 1]`` -> ``[N, B, C, th, tw]`` (4 coordinates: every image) or
    ``[N, 1, C, th, tw]`` (5: the first is the image index)."""
    x = ins["x"]
    roi = ins["roi"].reshape(ins["roi"].shape[0], -1)
    if roi.shape[1] == 5:
        return _crop_resize(x, roi[:, 1:], roi[:, 0].long(), ins).unsqueeze(1)
    n, b = roi.shape[0], x.shape[0]
    boxes = roi.repeat_interleave(b, dim=0)
    indices = torch.arange(b).repeat(n)
    out = _crop_resize(x, boxes, indices, ins)
    return out.reshape((n, b) + tuple(out.shape[1:]))


@register("crop_resize", versions=("iOS17", "iOS18"))
def crop_resize_ios17(ins, node):
    """boxes ``[N, 4]`` with ``box_indices`` (default ``arange(N)``) -> ``[N, C, th, tw]``."""
    boxes = ins["boxes"]
    indices = ins.get("box_indices")
    indices = torch.arange(boxes.shape[0]) if indices is None else indices.long()
    return _crop_resize(ins["x"], boxes, indices, ins)


# --------------------------------------------------------------------------- resample / affine


def _pad_indices(index: torch.Tensor, size: int, mode: str):
    """Integer pixel indices mapped into the image by ``padding_mode``; plus an "inside" mask
    (``constant`` padding reads ``padding_value`` where it is false)."""
    inside = (index >= 0) & (index <= size - 1)
    if mode == "border" or mode == "constant":
        return index.clamp(0, size - 1), inside
    if mode == "reflection":
        if size == 1:
            return torch.zeros_like(index), inside | True
        period = 2 * (size - 1)
        r = torch.remainder(index, period)
        return torch.where(r >= size, period - r, r), inside | True
    if mode == "symmetric":
        period = 2 * size
        r = torch.remainder(index, period)
        return torch.where(r >= size, period - 1 - r, r), inside | True
    raise ValueError(f"unknown padding_mode {mode!r}")


def _to_pixels(coord: torch.Tensor, size: int, coordinates_mode: str, align: bool):
    """Coordinates (in ``coordinates_mode``) as pixel positions (pixel centres at integers)."""
    if coordinates_mode == "unnormalized":
        return coord
    if coordinates_mode == "normalized_minus_one_to_one":
        return (coord + 1) / 2 * (size - 1) if align else ((coord + 1) * size - 1) / 2
    if coordinates_mode == "normalized_zero_to_one":
        return coord * (size - 1) if align else coord * size - 0.5
    raise ValueError(f"unknown coordinates_mode {coordinates_mode!r}")


def sample_2d(x, px, py, sampling_mode, padding_mode, padding_value):
    """``x [B, C, H, W]`` sampled at pixel positions ``px, py [B, H2, W2]``."""
    b, c, h, w = x.shape
    flat = x.reshape(b, c, h * w)

    def read(ix, iy):
        jx, in_x = _pad_indices(ix, w, padding_mode)
        jy, in_y = _pad_indices(iy, h, padding_mode)
        index = (jy * w + jx).reshape(b, 1, -1).expand(b, c, -1)
        values = torch.gather(flat, 2, index).reshape(b, c, *ix.shape[1:])
        if padding_mode == "constant":
            inside = (in_x & in_y).unsqueeze(1)
            values = torch.where(inside, values, torch.tensor(padding_value, dtype=values.dtype))
        return values

    if sampling_mode == "nearest":
        return read(torch.floor(px + 0.5).long(), torch.floor(py + 0.5).long())
    x0, y0 = torch.floor(px), torch.floor(py)
    fx, fy = (px - x0).unsqueeze(1).to(x.dtype), (py - y0).unsqueeze(1).to(x.dtype)
    x0, y0 = x0.long(), y0.long()
    top = read(x0, y0) * (1 - fx) + read(x0 + 1, y0) * fx
    bottom = read(x0, y0 + 1) * (1 - fx) + read(x0 + 1, y0 + 1) * fx
    return top * (1 - fy) + bottom * fy


@register("resample")
def resample(ins, node):
    """``out[b, c, h, w] = x[b, c]`` sampled at ``coordinates[b, h, w] = (x, y)``."""
    x = _as_float(ins["x"])
    coords = ins["coordinates"].to(torch.float64)
    align = bool(scalar(ins["align_corners"]))
    mode = ins["coordinates_mode"]
    px = _to_pixels(coords[..., 0], x.shape[-1], mode, align)
    py = _to_pixels(coords[..., 1], x.shape[-2], mode, align)
    return sample_2d(x, px, py, ins["sampling_mode"], ins["padding_mode"],
                     float(scalar(ins["padding_value"])))


@register("affine")
def affine(ins, node):
    """Sample ``x`` at ``x' = a0·x + a1·y + a2``, ``y' = b0·x + b1·y + b2`` for every output
    pixel (x, y) of the ``output_height × output_width`` grid, in ``coordinates_mode``."""
    x = _as_float(ins["x"])
    matrix = ins["transform_matrix"].to(torch.float64).reshape(-1, 6)
    oh, ow = int(scalar(ins["output_height"])), int(scalar(ins["output_width"]))
    mode = ins["coordinates_mode"]
    align = bool(scalar(ins["align_corners"]))
    gx = _grid(ow, mode, align).reshape(1, 1, -1)
    gy = _grid(oh, mode, align).reshape(1, -1, 1)
    m = matrix.expand(x.shape[0], 6) if matrix.shape[0] == 1 else matrix
    a0, a1, a2, b0, b1, b2 = (m[:, i].reshape(-1, 1, 1) for i in range(6))
    cx = a0 * gx + a1 * gy + a2
    cy = b0 * gx + b1 * gy + b2
    px = _to_pixels(cx, x.shape[-1], mode, align)
    py = _to_pixels(cy, x.shape[-2], mode, align)
    return sample_2d(x, px, py, ins["sampling_mode"], ins["padding_mode"],
                     float(scalar(ins["padding_value"])))


def _grid(n: int, coordinates_mode: str, align: bool) -> torch.Tensor:
    """Output pixel coordinates expressed in ``coordinates_mode``."""
    i = torch.arange(n, dtype=torch.float64)
    if coordinates_mode == "unnormalized":
        return i
    if coordinates_mode == "normalized_minus_one_to_one":
        return 2 * i / max(n - 1, 1) - 1 if align else (2 * i + 1) / n - 1
    return i / max(n - 1, 1) if align else (i + 0.5) / n
