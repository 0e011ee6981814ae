"""``kNearestNeighborsClassifier`` (``NearestNeighbors.proto``, spec ≥ 4): inference and update.

Inference for an input vector x of ``numberOfDimensions`` values:

- distance: squared Euclidean, ``d_i = Σ_j (x_j − s_ij)²`` to every stored sample (the linear
  and kd-tree indexes return the same neighbours; the index type only changes speed);
- the k = ``numberOfNeighbors.defaultValue`` nearest samples vote (all samples when fewer
  than k are stored); ties in distance at the k-th place keep the samples stored first;
- weighting: ``uniformWeighting`` gives each neighbour one vote; ``inverseDistanceWeighting``
  gives ``1/d_i`` ("the label with the highest sum of 1/distance"); neighbours at distance 0,
  where ``1/d`` is undefined, are chosen here to take all the votes, one each;
- predicted label: the highest vote total; on a tie (undocumented) the label whose nearest
  voting neighbour is closest, then the one stored first;
- probabilities output (undocumented): each voting label's share of the votes,
  ``votes / Σ votes``; labels without votes are left out;
- an empty index predicts ``defaultStringLabel`` / ``defaultInt64Label`` with probability 1.

``update`` (``MLUpdateTask`` on a k-NN) appends the training samples and their labels to the
index; nothing else changes.
"""

from __future__ import annotations

import copy

import numpy as np

from ..coreml.features import describe
from .engine import Engine
from .errors import InputError, ModelLoadError


class KNearestNeighborsEngine(Engine):
    """Runs a ``kNearestNeighborsClassifier`` spec."""

    precision = "fp32"
    mode_label = "k-nearest-neighbours (float64 distances)"

    def __init__(self, loaded):
        spec = loaded.spec
        self.name = loaded.name
        self.spec = spec
        knn = spec.kNearestNeighborsClassifier
        index = knn.nearestNeighborsIndex
        self.dims = int(index.numberOfDimensions)
        if self.dims < 1:
            raise ModelLoadError(f"{self.name}: nearestNeighborsIndex.numberOfDimensions is "
                                 f"{self.dims}; expected ≥ 1")
        for i, sample in enumerate(index.floatSamples):
            if len(sample.vector) != self.dims:
                raise ModelLoadError(
                    f"{self.name}: nearestNeighborsIndex.floatSamples[{i}] has "
                    f"{len(sample.vector)} values; numberOfDimensions is {self.dims}")
        self.samples = np.array([list(s.vector) for s in index.floatSamples],
                                dtype=np.float64).reshape(-1, self.dims)
        self.labels = labels_of(knn)
        if len(self.labels) != len(self.samples):
            raise ModelLoadError(f"{self.name}: kNearestNeighborsClassifier holds "
                                 f"{len(self.samples)} samples but {len(self.labels)} labels")
        self.k = int(knn.numberOfNeighbors.defaultValue)
        if self.k < 1:
            raise ModelLoadError(f"{self.name}: kNearestNeighborsClassifier.numberOfNeighbors "
                                 f"is {self.k}; expected ≥ 1")
        self.inverse = knn.WhichOneof("WeightingScheme") == "inverseDistanceWeighting"
        default = knn.WhichOneof("DefaultClassLabel")
        self.default = getattr(knn, default) if default else None
        self.inputs = describe(spec.description.input)
        self.outputs = describe(spec.description.output)
        self.label_output = spec.description.predictedFeatureName
        self.probabilities_output = spec.description.predictedProbabilitiesName
        weighting = "inverse-distance" if self.inverse else "uniform"
        self.notes = [f"k-NN classifier: {len(self.samples)} samples, k={self.k}, "
                      f"{weighting} weighting, squared Euclidean distance"]

    def run(self, feeds: dict[str, np.ndarray], state=None) -> dict:
        x = np.asarray(feeds[self.inputs[0].name], dtype=np.float64).reshape(-1)
        if x.size != self.dims:
            raise InputError(f"{self.name}: input {self.inputs[0].name!r} has {x.size} values; "
                             f"the index has {self.dims} dimensions")
        label, probabilities = self.classify(x)
        out = {self.label_output: label}
        if self.probabilities_output:
            out[self.probabilities_output] = probabilities
        return out

    def classify(self, x: np.ndarray) -> tuple[object, dict]:
        """(predicted label, {label: vote share}) for one vector."""
        if len(self.samples) == 0:
            return self.default, {self.default: 1.0}
        d = ((self.samples - x) ** 2).sum(axis=1)
        nearest = np.argsort(d, kind="stable")[: self.k]
        dist = d[nearest]
        if self.inverse:
            zero = dist == 0
            votes = zero.astype(np.float64) if zero.any() else 1.0 / dist
        else:
            votes = np.ones_like(dist)
        totals: dict = {}
        closest: dict = {}
        for rank, (i, v) in enumerate(zip(nearest, votes)):
            label = self.labels[i]
            if v == 0:
                continue
            totals[label] = totals.get(label, 0.0) + float(v)
            closest.setdefault(label, (float(dist[rank]), int(i)))
        best = max(totals, key=lambda lab: (totals[lab], -closest[lab][0], -closest[lab][1]))
        total = sum(totals.values())
        return best, {label: v / total for label, v in totals.items()}


def labels_of(knn) -> list:
    kind = knn.WhichOneof("ClassLabels")
    if kind == "stringClassLabels":
        return [str(v) for v in knn.stringClassLabels.vector]
    if kind == "int64ClassLabels":
        return [int(v) for v in knn.int64ClassLabels.vector]
    return []


def updated_spec(spec, name: str, samples: list[dict]):
    """A copy of ``spec`` with the training ``samples`` ({input: vector, label output: label})
    appended to the index."""
    if not spec.isUpdatable:
        raise ModelLoadError(f"{name}: isUpdatable is false: the k-NN classifier cannot be "
                             "updated")
    out = copy.deepcopy(spec)
    knn = out.kNearestNeighborsClassifier
    index = knn.nearestNeighborsIndex
    input_name = spec.description.input[0].name
    label_name = spec.description.predictedFeatureName
    strings = knn.WhichOneof("ClassLabels") == "stringClassLabels" or (
        knn.WhichOneof("DefaultClassLabel") == "defaultStringLabel")
    for i, sample in enumerate(samples):
        for key in (input_name, label_name):
            if key not in sample:
                raise InputError(f"{name}: training sample {i} has no {key!r}; it has "
                                 f"{', '.join(sorted(sample))}")
        vector = np.asarray(sample[input_name], dtype=np.float32).reshape(-1)
        if vector.size != index.numberOfDimensions:
            raise InputError(f"{name}: training sample {i}: {input_name!r} has {vector.size} "
                             f"values; the index has {index.numberOfDimensions} dimensions")
        label = _label(sample[label_name], strings, f"{name}: training sample {i}: "
                       f"{label_name!r}")
        index.floatSamples.add().vector.extend(vector.tolist())
        if strings:
            knn.stringClassLabels.vector.append(label)
        else:
            knn.int64ClassLabels.vector.append(label)
    return out


def _label(value, strings: bool, where: str):
    value = value.item() if isinstance(value, np.ndarray) and value.size == 1 else value
    if isinstance(value, np.generic):
        value = value.item()
    if strings:
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string label, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise InputError(f"{where}: expected an int64 label, got {value!r}")
    return int(value)
