"""Tensor operations: band_part, cumsum, one_hot, non_zero, sorting (argsort, topk) and
non-maximum suppression."""

from __future__ import annotations

import torch

from ..registry import register
from ._util import axis_index, scalar


@register("band_part")
def band_part(ins, node):
    """Keep ``x[..., m, n]`` where ``(lower < 0 or m − n <= lower)`` and
    ``(upper < 0 or n − m <= upper)``; zero elsewhere."""
    x = ins["x"]
    lower = int(scalar(ins.get("lower"), -1))
    upper = int(scalar(ins.get("upper"), -1))
    m = torch.arange(x.shape[-2]).reshape(-1, 1)
    n = torch.arange(x.shape[-1]).reshape(1, -1)
    keep = torch.ones(x.shape[-2], x.shape[-1], dtype=torch.bool)
    if lower >= 0:
        keep &= (m - n) <= lower
    if upper >= 0:
        keep &= (n - m) <= upper
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype))


@register("cumsum")
def cumsum(ins, node):
    """Cumulative sum along ``axis``; ``exclusive`` shifts by one (first = 0); ``reverse``
    sums from the end."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins.get("axis"), 0)), x.dim())
    exclusive = bool(scalar(ins.get("exclusive"), False))
    reverse = bool(scalar(ins.get("reverse"), False))
    if reverse:
        x = torch.flip(x, [axis])
    out = torch.cumsum(x, dim=axis).to(x.dtype)
    if exclusive:
        out = out - x
    if reverse:
        out = torch.flip(out, [axis])
    return out


@register("one_hot")
def one_hot(ins, node):
    """A new axis of ``one_hot_vector_size`` at ``axis``: ``on_value`` where the position equals
    the index, ``off_value`` elsewhere (out-of-range indices give all ``off_value``)."""
    indices = ins["indices"].to(torch.int64)
    depth = int(scalar(ins["one_hot_vector_size"]))
    axis = axis_index(int(scalar(ins.get("axis"), -1)), indices.dim() + 1)
    on = scalar(ins.get("on_value"), 1)
    off = scalar(ins.get("off_value"), 0)
    positions = torch.arange(depth).reshape((-1,) + (1,) * (indices.dim() - axis))
    hit = positions == indices.unsqueeze(axis)
    return torch.where(hit, torch.tensor(on), torch.tensor(off))


@register("non_zero")
def non_zero(ins, node):
    """``[N, rank]`` int32 indices of the non-zero elements, row-major order."""
    return torch.nonzero(ins["x"]).to(torch.int32)


def _sort(x, axis, descending):
    """Stable sort: ties keep their input order."""
    return torch.sort(x, dim=axis, descending=descending, stable=True)


@register("argsort")
def argsort(ins, node):
    """Indices that sort ``x`` along ``axis``; descending unless ``ascending``."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins.get("axis"), -1)), x.dim())
    ascending = bool(scalar(ins.get("ascending"), False))
    return _sort(x, axis, not ascending)[1].to(torch.int32)


@register("topk")
def topk(ins, node):
    """The ``k`` largest (smallest with ``ascending``) values along ``axis`` and their indices,
    sorted; ``k = -1`` keeps all. iOS16+: ``return_indices = False`` returns values only."""
    x = ins["x"]
    axis = axis_index(int(scalar(ins.get("axis"), -1)), x.dim())
    k = int(scalar(ins.get("k"), 1))
    if k < 0:
        k = x.shape[axis]
    ascending = bool(scalar(ins.get("ascending"), False))
    values, indices = _sort(x, axis, not ascending)
    values = values.narrow(axis, 0, k)
    indices = indices.narrow(axis, 0, k)
    if not bool(scalar(ins.get("return_indices"), True)):
        return values
    return values, indices.to(torch.int32)


# --------------------------------------------------------------------------- NMS


def _iou(boxes: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of ``[B, 4]`` boxes given as (center x, center y, width, height)."""
    cx, cy, w, h = boxes.unbind(-1)
    x1, x2, y1, y2 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    iw = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp(min=0)
    ih = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp(min=0)
    inter = iw * ih
    area = w * h
    return inter / (area[:, None] + area[None] - inter)


def _greedy(order: list[int], iou: torch.Tensor, threshold: float) -> list[int]:
    """Greedy suppression over candidates in score order: keep a box unless its IoU with an
    already kept box exceeds ``threshold``."""
    kept: list[int] = []
    suppressed = torch.zeros(iou.shape[0], dtype=torch.bool)
    for i in order:
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= iou[i] > threshold
    return kept


def _select(boxes, scores, iou_threshold, score_threshold, per_class):
    """Kept box indices of one batch entry, in descending score order.

    A box's score is its best class score; boxes at or below ``score_threshold`` are dropped.
    With ``per_class`` suppression only compares boxes whose best class is the same. When
    nothing survives, the best-scoring box is returned alone.
    """
    best, cls = scores.max(dim=-1)
    order = torch.argsort(-best, stable=True)
    if score_threshold is not None:
        order = order[best[order] > score_threshold]
    iou = _iou(boxes)
    if per_class:
        same = cls[:, None] == cls[None]
        iou = torch.where(same, iou, torch.zeros_like(iou))
    kept = _greedy(order.tolist(), iou, iou_threshold)
    if not kept:
        kept = [int(torch.argmax(best))]
    return kept


def _nms(boxes, scores, iou_threshold, score_threshold, max_boxes, per_class):
    """Per batch entry: selected boxes, scores, indices (−1 padded) and counts."""
    n = boxes.shape[0]
    out_boxes = torch.zeros(n, max_boxes, 4, dtype=boxes.dtype)
    out_scores = torch.zeros(n, max_boxes, scores.shape[-1], dtype=scores.dtype)
    out_indices = torch.full((n, max_boxes), -1, dtype=torch.int32)
    counts = torch.zeros(n, dtype=torch.int32)
    for b in range(n):
        kept = _select(boxes[b], scores[b], iou_threshold, score_threshold, per_class)
        kept = torch.tensor(kept[:max_boxes], dtype=torch.int64)
        count = kept.numel()
        out_boxes[b, :count] = boxes[b, kept]
        out_scores[b, :count] = scores[b, kept]
        out_indices[b, :count] = kept.to(torch.int32)
        counts[b] = count
    return out_boxes, out_scores, out_indices, counts


@register("non_maximum_suppression", versions=("iOS15", "iOS16"))
def non_maximum_suppression(ins, node):
    """boxes ``[n, B, 4]`` (center x, center y, w, h), scores ``[n, B, K]`` -> boxes, scores,
    indices (−1 padded to ``max_boxes``), counts."""
    return _nms(ins["boxes"], ins["scores"], float(scalar(ins["iou_threshold"])),
                float(scalar(ins["score_threshold"])), int(scalar(ins["max_boxes"])),
                bool(scalar(ins.get("per_class_suppression"), False)))


@register("non_maximum_suppression", versions=("iOS17", "iOS18"))
def non_maximum_suppression_ios17(ins, node):
    """iOS17: boxes ``[n, 4, B]``, scores ``[n, K, B]``, no score threshold, no count output."""
    boxes = ins["boxes"].transpose(1, 2)
    scores = ins["scores"].transpose(1, 2)
    out_boxes, out_scores, indices, _ = _nms(
        boxes, scores, float(scalar(ins["iou_threshold"])), None, int(scalar(ins["max_boxes"])),
        bool(scalar(ins.get("per_class_suppression"), False)))
    return out_boxes.transpose(1, 2), out_scores.transpose(1, 2), indices
