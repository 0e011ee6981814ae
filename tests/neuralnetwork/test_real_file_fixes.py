"""Published NeuralNetwork files: optional recurrent state inputs default to zeros; classifiers
whose label list repeats a label return a label and a dictionary that agree; lint CML-M010."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from PIL import Image

from pytest_coremlcheck.compare.classifier import dictionary_view, label_result
from pytest_coremlcheck.compare.tolerance import Tolerance
from pytest_coremlcheck.lint import lint
from pytest_coremlcheck.reference import ReferenceModel

WILD = Path("/work/shared/wild-models")
RNG = np.random.default_rng(7)


def _wild(name: str) -> Path:
    """A file listed in the wild-models manifest, or a skip when it is absent."""
    manifest = WILD / "MANIFEST.json"
    if not manifest.exists():
        pytest.skip("wild-models directory absent")
    entries = {m["name"]: m for m in json.loads(manifest.read_text())["models"]}
    path = WILD / entries[name]["dir"] / name
    if not path.exists():
        pytest.skip(f"{name} absent")
    return path


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _lstm_numpy(x, w, r, b, h, c):
    """Core ML's LSTM (NeuralNetwork.proto): gates i, f, o, z; c = f·c + i·z; y = o·tanh(c)."""
    ys = []
    for xt in x:
        i, f, o, z = (w[k] @ xt + r[k] @ h + b[k] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(z)
        h = _sigmoid(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys), h, c


@pytest.fixture(scope="module")
def optional_state_lstm():
    """A builder LSTM whose hiddenIn/cellIn inputs are declared optional (spec 1)."""
    n_in, hidden, seq = 3, 4, 5
    w = [RNG.standard_normal((hidden, n_in)).astype(np.float32) for _ in range(4)]
    r = [RNG.standard_normal((hidden, hidden)).astype(np.float32) * 0.5 for _ in range(4)]
    b = [RNG.standard_normal(hidden).astype(np.float32) for _ in range(4)]
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(1, seq, n_in)), ("hiddenIn", datatypes.Array(hidden)),
         ("cellIn", datatypes.Array(hidden))],
        [("y", None), ("hiddenOut", None), ("cellOut", None)])
    # [1, 1, 1, Seq, I] -> [Seq, 1, I, 1, 1], as Turi Create's activity classifiers do
    builder.add_permute("seq", dim=(2, 3, 0, 1), input_name="x", output_name="xs")
    # builder order is [i, f, o, z]
    builder.add_unilstm("lstm", W_h=r, W_x=w, b=b, hidden_size=hidden, input_size=n_in,
                        input_names=["xs", "hiddenIn", "cellIn"],
                        output_names=["y", "hiddenOut", "cellOut"], output_all=True)
    for index in (1, 2):
        builder.spec.description.input[index].type.isOptional = True
    x = RNG.standard_normal((seq, n_in)).astype(np.float32)
    return ReferenceModel(builder.spec), (x, w, r, b, hidden)


def test_omitted_optional_lstm_states_are_zeros(optional_state_lstm):
    model, (x, w, r, b, hidden) = optional_state_lstm
    out = model.predict({"x": x[None]})
    zeros = np.zeros(hidden)
    ys, h, c = _lstm_numpy(x, w, r, b, zeros, zeros)
    np.testing.assert_allclose(out["y"].reshape(ys.shape), ys, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["hiddenOut"].reshape(-1), h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["cellOut"].reshape(-1), c, rtol=1e-4, atol=1e-5)


def test_given_optional_lstm_states_are_used(optional_state_lstm):
    model, (x, w, r, b, hidden) = optional_state_lstm
    h0 = RNG.standard_normal(hidden).astype(np.float32)
    c0 = RNG.standard_normal(hidden).astype(np.float32)
    out = model.predict({"x": x[None], "hiddenIn": h0, "cellIn": c0})
    _, h, _ = _lstm_numpy(x, w, r, b, h0, c0)
    np.testing.assert_allclose(out["hiddenOut"].reshape(-1), h, rtol=1e-4, atol=1e-5)
    _, h_zero, _ = _lstm_numpy(x, w, r, b, np.zeros(hidden), np.zeros(hidden))
    assert not np.allclose(out["hiddenOut"].reshape(-1), h_zero, atol=1e-3)


def test_turi_activity_classifier_runs_without_its_optional_states():
    path = _wild("turi_MyActivityClassifier.mlmodel")
    model = ReferenceModel(path)
    optional = [f.name for f in model.inputs if f.optional]
    assert optional == ["hiddenIn", "cellIn"]
    features = RNG.random((1, 50, 7)).astype(np.float32)
    out = model.predict({"features": features})
    zeros = {name: np.zeros(200, dtype=np.float32) for name in optional}
    explicit = model.predict({"features": features, **zeros})
    assert out["activityProbability"] == explicit["activityProbability"]
    probs = out["activityProbability"]
    assert out["activity"] == max(probs, key=probs.get)
    assert abs(sum(probs.values()) - 1.0) < 1e-5


def _duplicate_label_classifier(labels):
    """inner product (identity weights) + softmax, labelled ``labels``."""
    n = len(labels)
    builder = NeuralNetworkBuilder([("data", datatypes.Array(n))], [("probs", None)],
                                   mode="classifier")
    builder.add_inner_product("fc", W=np.eye(n, dtype=np.float32), b=None, input_channels=n,
                              output_channels=n, has_bias=False, input_name="data",
                              output_name="logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels(labels, predicted_feature_name="label")
    return builder.spec


LABELS = ["crane", "pot", "crane", "cup"]


@pytest.fixture(scope="module")
def duplicate_model():
    return ReferenceModel(_duplicate_label_classifier(LABELS))


def test_repeated_label_keeps_its_last_position(duplicate_model):
    logits = np.array([3.0, 2.0, 1.0, 0.5], dtype=np.float32)
    probs = np.exp(logits) / np.exp(logits).sum()
    out = duplicate_model.predict({"data": logits})
    assert list(out["probs"]) == ["crane", "pot", "cup"]
    np.testing.assert_allclose(out["probs"]["crane"], probs[2], rtol=1e-6)
    # position 0 ('crane') has the largest probability, but the dictionary holds position 2's:
    # the label agrees with the dictionary ('pot'), not with the raw arg-max
    assert out["label"] == "pot"
    assert out["label"] == max(out["probs"], key=out["probs"].get)


def test_repeated_label_wins_with_its_kept_value(duplicate_model):
    out = duplicate_model.predict({"data": np.array([0.0, 1.0, 4.0, 2.0], dtype=np.float32)})
    assert out["label"] == "crane"


def test_unique_labels_unchanged():
    model = ReferenceModel(_duplicate_label_classifier(["a", "b", "c"]))
    out = model.predict({"data": np.array([0.0, 5.0, 5.0], dtype=np.float32)})
    assert out["label"] == "b"  # first on ties
    assert list(out["probs"]) == ["a", "b", "c"]


def test_dictionary_view_and_label_verdict():
    source = np.array([[0.5, 0.3, 0.1, 0.1]])
    view = dictionary_view(source, LABELS)
    np.testing.assert_array_equal(view, [[0.1, 0.3, 0.1, 0.1]])
    np.testing.assert_array_equal(source, [[0.5, 0.3, 0.1, 0.1]])  # not modified in place
    assert dictionary_view(source, ["a", "b", "c", "d"]) is source
    passed = label_result("label", ["pot"], [source], LABELS, Tolerance())
    assert passed.passed
    failed = label_result("label", ["crane"], [source], LABELS, Tolerance())
    assert not failed.passed


def test_lint_warns_about_repeated_labels():
    findings = [f for f in lint(_duplicate_label_classifier(LABELS)).findings
                if f.id == "CML-M010"]
    assert len(findings) == 1
    assert findings[0].severity == "warning"
    assert "'crane' at [0, 2]" in findings[0].message
    clean = lint(_duplicate_label_classifier(["a", "b", "c"])).findings
    assert not [f for f in clean if f.id == "CML-M010"]


def test_squeezenet_repeated_labels_warn():
    path = _wild("SqueezeNetFP16.mlmodel")
    findings = [f for f in lint(path).findings if f.id == "CML-M010"]
    assert len(findings) == 1
    for label in ("crane", "pot", "macbook"):
        assert repr(label) in findings[0].message


@pytest.mark.slow
def test_squeezenet_label_and_dictionary_agree():
    model = ReferenceModel(_wild("SqueezeNetFP16.mlmodel"))
    image = Image.fromarray((RNG.random((227, 227, 3)) * 255).astype(np.uint8))
    out = model.predict({model.inputs[0].name: image})
    probs = out["classLabelProbs"]
    assert len(probs) == 997
    assert out["classLabel"] == max(probs, key=probs.get)
