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
express it (:func:`dictionary_view`), so only what Core ML returns is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import compute
from .result import OutputResult
from .tolerance import Tolerance


@dataclass(frozen=True)
class ClassifierOutputs:
    """Names of a classifier's label and probability outputs, and its class labels."""

    label: str
    probabilities: str
    labels: list | None


def describe_classifier(spec) -> ClassifierOutputs | None:
    """The classifier outputs of a spec, or None when it is not a classifier."""
    desc = spec.description
    if not desc.predictedFeatureName:
        return None
    return ClassifierOutputs(desc.predictedFeatureName, desc.predictedProbabilitiesName,
                             class_labels(spec))


def class_labels(spec) -> list | None:
    """Class labels in probability order: a NeuralNetwork classifier's label list, the
    ``classes`` of an ML program's ``classify`` op, or, for a pipeline, those of the stage that
    produces its predicted label; None when none is found."""
    kind = spec.WhichOneof("Type")
    if kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        return _pipeline_labels(spec, getattr(spec, kind))
    if kind == "neuralNetworkClassifier":
        nn = spec.neuralNetworkClassifier
        which = nn.WhichOneof("ClassLabels")
        if which == "stringClassLabels":
            return [str(v) for v in nn.stringClassLabels.vector]
        if which == "int64ClassLabels":
            return [int(v) for v in nn.int64ClassLabels.vector]
        return None
    if kind == "mlProgram":
        for function in spec.mlProgram.functions.values():
            for block in function.block_specializations.values():
                for op in block.operations:
                    if op.type == "classify" and "classes" in op.inputs:
                        return _classify_labels(op.inputs["classes"])
    return None


def _pipeline_labels(spec, message) -> list | None:
    """Labels of the last stage that outputs the pipeline's predicted label (or the last stage
    that has labels when the pipeline declares none)."""
    pipeline = message if message.DESCRIPTOR.name == "Pipeline" else message.pipeline
    wanted = spec.description.predictedFeatureName
    for stage in reversed(pipeline.models):
        outputs = {f.name for f in stage.description.output}
        if wanted and wanted not in outputs:
            continue
        labels = class_labels(stage)
        if labels is not None:
            return labels
    return None


def _classify_labels(argument) -> list | None:
    for binding in argument.arguments:
        if not binding.HasField("value"):
            continue
        values = []
        for item in binding.value.immediateValue.list.values:
            tensor = item.immediateValue.tensor
            if tensor.strings.values:
                values.extend(str(v) for v in tensor.strings.values)
            elif tensor.longInts.values:
                values.extend(int(v) for v in tensor.longInts.values)
            elif tensor.ints.values:
                values.extend(int(v) for v in tensor.ints.values)
        return values or None
    return None


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

