"""``classify``: the classifier outputs of a model, as ``MLModel.predict`` returns them."""

from __future__ import annotations

import torch

from ..registry import register


@register("classify")
def classify(ins, node):
    """(predicted class label, {class label: probability}) over the flattened ``probabilities``.

    Labels are ``str`` or ``int``; the prediction is the label of the largest probability
    (the first one on ties).
    """
    probs = ins["probabilities"].reshape(-1).to(torch.float64)
    classes = ins["classes"]
    labels = classes.reshape(-1).tolist() if isinstance(classes, torch.Tensor) else list(classes)
    labels = [label if isinstance(label, str) else int(label) for label in labels]
    values = probs.tolist()
    best = int(torch.argmax(probs))
    return labels[best], dict(zip(labels, values))
