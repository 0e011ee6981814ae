"""Classifier outputs of a converted model, made comparable with a source's probability vector.

A Core ML classifier (NeuralNetwork classifier, or an ML program ending in ``classify``)
returns its predicted label (``predictedFeatureName``) and, when declared, a ``{label: p}``
dictionary (``predictedProbabilitiesName``). The source returns one probability vector in class
order. The dictionary becomes a vector in the model's class-label order and is compared like
any output; the predicted label is checked against the source's arg-max class: the share of
samples where they agree must reach ``min_top1`` (1.0 when the tolerance sets none).

A label list that repeats a label (Apple's SqueezeNet lists 'crane', 'pot' and 'macbook' twice)
leaves the dictionary one value for it, the one at the label's last position (see
``reference/neuralnetwork/classifier.py``); the source vector is compared as the dictionary can
express it (:func:`dictionary_view`), so only what Core ML returns is checked. What the spec
declares (output names, class labels) is read by ``coreml.describe.describe_classifier``.
"""

from __future__ import annotations

import numpy as np

from .metrics import compute
from .result import OutputResult
from .tolerance import Tolerance


def probability_vector(value: dict, labels: list | None) -> np.ndarray:
    """A ``{label: p}`` dictionary as a float64 vector in class-label order (a repeated label's
    one value at each of its positions)."""
    if labels is None:
        return np.asarray(list(value.values()), dtype=np.float64)
    by_text = {str(k): v for k, v in value.items()}
    return np.asarray([by_text.get(str(label), np.nan) for label in labels], dtype=np.float64)


def dictionary_view(vector, labels: list | None):
    """A source probability vector as a dictionary keyed by ``labels`` can hold it: every
    position of a repeated label takes the value of its last position. Returned unchanged when
    the labels are unique or do not match the vector's size."""
    if labels is None or len(set(map(str, labels))) == len(labels):
        return vector
    array = np.array(vector, dtype=np.float64)
    flat = array.reshape(-1)
    if flat.size != len(labels):
        return vector
    last = {str(label): i for i, label in enumerate(labels)}
    flat[:] = flat[[last[str(label)] for label in labels]]
    return array


def label_result(name: str, predicted: list, source_vectors: list[np.ndarray],
                 labels: list | None, tol: Tolerance) -> OutputResult:
    """Verdict on the predicted labels against the arg-max class of each source vector."""
    if labels is None:
        return OutputResult(name, None, tol, [], note="no class labels found in the model")
    pairs, misses = [], []
    for index, (label, vector) in enumerate(zip(predicted, source_vectors)):
        source = np.asarray(dictionary_view(vector, labels)).reshape(-1)
        expected = labels[int(np.argmax(source))]
        a = _one_hot(labels, label)
        b = _one_hot(labels, expected)
        pairs.append((a, b))
        if str(label) != str(expected):
            misses.append((index, label, expected))
    m = compute(pairs)
    agreement = 1.0 - len(misses) / len(predicted) if predicted else 1.0
    required = 1.0 if tol.min_top1 is None else tol.min_top1
    failures = []
    if agreement < required:
        index, got, expected = misses[0]
        failures.append(f"{name}: predicted label differs from the source's top class on "
                        f"{len(misses)} of {len(predicted)} sample(s) (first: sample {index}, "
                        f"{got!r} vs {expected!r}); agreement {agreement:.3f} < "
                        f"min_top1={required:g}")
    return OutputResult(name, m, tol, failures, {"min_top1": agreement},
                        note="predicted label vs the source's arg-max class")


def _one_hot(labels: list, label) -> np.ndarray:
    vector = np.zeros(len(labels))
    texts = [str(v) for v in labels]
    if str(label) in texts:
        vector[texts.index(str(label))] = 1.0
    return vector

