"""``neuralNetworkClassifier`` outputs as ``MLModel.predict`` returns them.

The probability blob is ``labelProbabilityLayerName`` (or, when empty, the blob named like the
``predictedProbabilitiesName`` output, else the last layer's first output). Flattened, it holds
one probability per class label in label order. The outputs are:

- ``predictedFeatureName``: the label with the highest probability (``str`` for string labels,
  ``int`` for int64 labels; the first one on ties);
- ``predictedProbabilitiesName`` (if declared): ``{label: probability}`` as Python floats.

Repeated labels (Apple's published SqueezeNet lists 'crane', 'pot' and 'macbook' twice): the
probabilities output is a dictionary keyed by label (``DictionaryFeatureType`` in
``FeatureTypes.proto``; ``Dict[classT, probT]`` returned by coremltools' ``classify`` op), so it
holds one value per label. No statement of which position of a repeated label Core ML keeps
was found in Apple's documentation or in coremltools (validators, converters, tests, issue
threads); the executor keeps the last one, as a dictionary filled in label order does, and takes
the predicted label from the same kept values, so the two outputs never contradict each other
(the label is always the dictionary's arg-max key). Lint rule CML-M010 warns about such label
lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ExecutionError, ModelLoadError


@dataclass
class Classifier:
    labels: list
    probability_blob: str
    label_output: str
    probabilities_output: str
    model_name: str

    def __post_init__(self):
        self.unique, self.kept = kept_positions(self.labels)

    def outputs(self, blob: torch.Tensor) -> dict:
        """The label and probability-dictionary outputs for a probability blob."""
        probs = blob.detach().reshape(-1).to(torch.float64).numpy()
        if probs.size != len(self.labels):
            raise ExecutionError(
                f"{self.model_name}: classifier probability blob {self.probability_blob!r} has "
                f"{probs.size} values, expected one per class label ({len(self.labels)})")
        values = probs[self.kept]
        result = {}
        if self.label_output:
            result[self.label_output] = self.unique[int(np.argmax(values))]
        if self.probabilities_output:
            result[self.probabilities_output] = {
                label: float(p) for label, p in zip(self.unique, values)}
        return result


def kept_positions(labels: list) -> tuple[list, list[int]]:
    """(each label once, in order of first appearance; the position whose probability the
    dictionary keeps for it: its last one)."""
    last = {label: i for i, label in enumerate(labels)}
    unique = list(dict.fromkeys(labels))
    return unique, [last[label] for label in unique]


def build(spec, nn, model_name: str) -> Classifier:
    """The classifier description of a ``neuralNetworkClassifier`` spec."""
    kind = nn.WhichOneof("ClassLabels")
    if kind == "stringClassLabels":
        labels = [str(v) for v in nn.stringClassLabels.vector]
    elif kind == "int64ClassLabels":
        labels = [int(v) for v in nn.int64ClassLabels.vector]
    else:
        raise ModelLoadError(f"{model_name}: the classifier declares no class labels")
    if not labels:
        raise ModelLoadError(f"{model_name}: the classifier's class label list is empty")
    desc = spec.description
    blob = nn.labelProbabilityLayerName
    if not blob:
        produced = {o for layer in nn.layers for o in layer.output}
        if desc.predictedProbabilitiesName in produced:
            blob = desc.predictedProbabilitiesName
        elif nn.layers and nn.layers[-1].output:
            blob = nn.layers[-1].output[0]
        else:
            raise ModelLoadError(f"{model_name}: the classifier names no probability blob")
    return Classifier(labels, blob, desc.predictedFeatureName,
                      desc.predictedProbabilitiesName, model_name)
