"""Non-maximum suppression, random distributions, and the custom-layer error.

Random layers draw from torch generators seeded with the layer's ``seed``: the values follow the
declared distribution but are not Core ML's bit stream, so only their statistics are comparable.
"""

from __future__ import annotations

import torch

from ..registry import register
from ._util import ints_of, scalar_of


@register("NonMaximumSuppression")
def non_maximum_suppression(params, ctx):
    """Boxes (B, N, 4) as (x_center, y_center, width, height) and scores (B, N, C); boxes below
    the score threshold are dropped, the rest greedily kept by score while their IoU with every
    kept box is ≤ the threshold (within their best class with ``perClassSuppression``). Outputs
    padded to ``maxBoxes``: boxes, scores (zeros), indices (−1), and the count per batch."""
    iou_p, score_p, max_p = params.iouThreshold, params.scoreThreshold, int(params.maxBoxes)
    per_class = params.perClassSuppression

    def run(ins):
        boxes, scores = ins[0], ins[1]
        iou_t = scalar_of(ins[2]) if len(ins) > 2 else iou_p
        score_t = scalar_of(ins[3]) if len(ins) > 3 else score_p
        max_boxes = int(scalar_of(ins[4])) if len(ins) > 4 else max_p
        b, n, c = scores.shape
        out_boxes = boxes.new_zeros(b, max_boxes, 4)
        out_scores = scores.new_zeros(b, max_boxes, c)
        out_idx = torch.full((b, max_boxes), -1.0)
        counts = torch.zeros(b)
        for bi in range(b):
            best, cls = scores[bi].max(dim=-1)
            keep = _nms(boxes[bi], best, cls if per_class else None, iou_t, score_t, max_boxes)
            if not keep:
                keep = [int(torch.argmax(best))]
            for k, i in enumerate(keep):
                out_boxes[bi, k] = boxes[bi, i]
                out_scores[bi, k] = scores[bi, i]
                out_idx[bi, k] = i
            counts[bi] = len(keep)
        return [out_boxes, out_scores, out_idx, counts]
    return run


def _nms(boxes, scores, classes, iou_t, score_t, max_boxes) -> list[int]:
    x, y, w, h = boxes.unbind(-1)
    x0, y0, x1, y1 = x - w / 2, y - h / 2, x + w / 2, y + h / 2
    area = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    order = [int(i) for i in torch.argsort(scores, descending=True, stable=True)
             if float(scores[i]) >= score_t]
    kept: list[int] = []
    for i in order:
        if len(kept) >= max_boxes:
            break
        ok = True
        for j in kept:
            if classes is not None and int(classes[i]) != int(classes[j]):
                continue
            iw = (torch.minimum(x1[i], x1[j]) - torch.maximum(x0[i], x0[j])).clamp(min=0)
            ih = (torch.minimum(y1[i], y1[j]) - torch.maximum(y0[i], y0[j])).clamp(min=0)
            inter = iw * ih
            union = area[i] + area[j] - inter
            if union > 0 and float(inter / union) > iou_t:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed if seed >= 0 else 0)
    return g


def _random(kind: str, shape_of):
    def build(params, ctx):
        seed = int(params.seed)

        def run(ins):
            shape = shape_of(params, ins)
            g = _generator(seed)
            if kind == "normal":
                return torch.randn(shape, generator=g) * params.stdDev + params.mean
            if kind == "uniform":
                return torch.rand(shape, generator=g) * (params.maxVal - params.minVal) + \
                    params.minVal
            return (torch.rand(shape, generator=g) < params.prob).float()
        return run
    return build


def _like(params, ins):
    return tuple(ins[0].shape)


def _static(params, ins):
    shape = params.outputShape
    return tuple(int(v) for v in shape)


def _dynamic(params, ins):
    return tuple(ints_of(ins[0]))


for _kind, _base in (("normal", "randomNormal"), ("uniform", "randomUniform"),
                     ("bernoulli", "randomBernoulli")):
    register(f"{_base}Like")(_random(_kind, _like))
    register(f"{_base}Static")(_random(_kind, _static))
    register(f"{_base}Dynamic")(_random(_kind, _dynamic))


@register("categoricalDistribution")
def categorical_distribution(params, ctx):
    """``numSamples`` class indices per row of the last axis, from logits / temperature (or
    from probabilities when not ``isLogits``)."""
    seed, n = int(params.seed), int(params.numSamples)
    logits, temperature = params.isLogits, params.temperature or 1.0

    def run(ins):
        x = ins[0]
        flat = x.reshape(-1, x.shape[-1])
        probs = torch.softmax(flat / temperature, dim=-1) if logits else flat
        samples = torch.multinomial(probs, n, replacement=True, generator=_generator(seed))
        return samples.float().reshape(*x.shape[:-1], n)
    return run


@register("custom")
def custom(params, ctx):
    raise ctx.unsupported(f"custom layer class {params.className!r} is user code that only "
                          "exists in the app; the reference executor cannot run it")
