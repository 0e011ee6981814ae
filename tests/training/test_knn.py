"""k-NN classifiers built with coremltools' KNearestNeighborsClassifierBuilder: inference with
hand-computed squared distances and votes, and update adding examples."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder

from pytest_coremlcheck.reference import ReferenceModel

POINTS = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [4.0, 3.0]]
LABELS = ["a", "a", "b", "c", "c"]


def knn(k=3, weighting="uniform", points=POINTS, labels=LABELS, default="none"):
    b = KNearestNeighborsClassifierBuilder(input_name="x", output_name="label",
                                           number_of_dimensions=2, default_class_label=default,
                                           number_of_neighbors=k, weighting_scheme=weighting)
    if points:
        b.add_samples(points, labels)
    return b.spec


def predict(spec, x):
    return ReferenceModel(spec).predict({"x": np.array(x, dtype=np.float32)})


def test_uniform_votes_of_the_k_nearest():
    # distances² from (0.5, 0.8): a 0.89, a 0.89, b 1.69, c 11.69, c 17.69
    out = predict(knn(k=3), [0.5, 0.8])
    assert out["label"] == "a"
    assert out["labelProbs"] == pytest.approx({"a": 2 / 3, "b": 1 / 3})


def test_inverse_distance_weighting_can_overrule_the_majority():
    # from (0.0, 1.9): b at 0.01; a at 3.61 and 4.61 → b: 100, a: 0.277 + 0.217
    uniform = predict(knn(k=3), [0.0, 1.9])
    weighted = predict(knn(k=3, weighting="inverse_distance"), [0.0, 1.9])
    assert uniform["label"] == "a"
    assert weighted["label"] == "b"
    votes = {"b": 1 / 0.01, "a": 1 / 3.61 + 1 / 4.61}
    total = sum(votes.values())
    assert weighted["labelProbs"] == pytest.approx({k: v / total for k, v in votes.items()},
                                                   rel=1e-5)


def test_tie_goes_to_the_label_with_the_closest_neighbour_then_the_first_stored():
    # k=2, one vote each: the closer neighbour wins; equal distances: the first stored
    spec = knn(k=2, points=[[0.0, 0.0], [2.0, 0.0]], labels=["far", "near"])
    assert predict(spec, [1.1, 0.0])["label"] == "near"   # 1 vote each; near at 0.81
    assert predict(spec, [1.0, 0.0])["label"] == "far"    # same distance: stored first


def test_exact_match_takes_all_inverse_distance_votes_and_k_above_the_sample_count():
    spec = knn(k=10, weighting="inverse_distance")
    out = predict(spec, [3.0, 3.0])
    assert out["label"] == "c" and out["labelProbs"] == {"c": 1.0}
    assert predict(knn(k=10), [0.0, 0.0])["labelProbs"] == pytest.approx(
        {"a": 0.4, "b": 0.2, "c": 0.4})


def test_empty_index_predicts_the_default_label():
    assert predict(knn(points=[]), [1.0, 1.0])["label"] == "none"


def test_update_adds_examples_and_saves(tmp_path):
    model = ReferenceModel(knn(k=1))
    assert model.predict({"x": np.array([9.0, 9.0], np.float32)})["label"] == "c"
    updated = model.update({"x": np.array([[9.0, 9.5], [-5.0, -5.0]], np.float32),
                            "label": np.array(["d", "e"])})
    assert updated.predict({"x": np.array([9.0, 9.0], np.float32)})["label"] == "d"
    assert updated.predict({"x": np.array([-4.0, -4.0], np.float32)})["label"] == "e"
    path = updated.save(tmp_path / "Knn.mlmodel")
    spec = ct.models.MLModel(str(path)).get_spec()
    assert list(spec.kNearestNeighborsClassifier.stringClassLabels.vector) == LABELS + ["d", "e"]
    with pytest.raises(Exception, match=r"training sample 0: 'label': expected a string label"):
        model.update([{"x": [1.0, 1.0], "label": 3}])
    with pytest.raises(Exception, match="has 3 values; the index has 2 dimensions"):
        model.update([{"x": [1.0, 1.0, 1.0], "label": "z"}])


def test_broken_index_names_the_sample():
    spec = knn()
    spec.kNearestNeighborsClassifier.nearestNeighborsIndex.floatSamples[3].vector.append(1.0)
    with pytest.raises(Exception, match=r"floatSamples\[3\] has 3 values; numberOfDimensions "
                                        r"is 2"):
        ReferenceModel(spec)
    spec = knn()
    spec.kNearestNeighborsClassifier.stringClassLabels.vector.append("x")
    with pytest.raises(Exception, match="holds 5 samples but 6 labels"):
        ReferenceModel(spec)
