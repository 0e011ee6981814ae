"""Emulated MLUpdateTask on updatable NeuralNetworks; expected weights computed by hand in
numpy from Core ML's loss definitions and the documented optimizer rules."""

from __future__ import annotations

import copy

import coremltools as ct
import numpy as np
import pytest
from coremltools.models.neural_network.update_optimizer_utils import AdamParams, SgdParams

from pytest_coremlcheck.lint import lint
from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.neuralnetwork.training import TrainingSetupError

from .builders import B1, B2, W1, W2, classifier, regressor

X = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
Y = np.array([[0], [1], [1], [0], [1]], dtype=np.int32)
NO_SHUFFLE = {"shuffle": False}


def forward(x, w1=W1, b1=B1, w2=W2, b2=B2):
    pre = w1 @ x + b1
    h = np.maximum(pre, 0)
    z = w2 @ h + b2
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    return pre, h, p


def cce_grads(batch, w1=W1, b1=B1, w2=W2, b2=B2):
    """Gradients of the mean cross-entropy −log p[t] over ``batch`` (indices into X, Y)."""
    g = {"w1": np.zeros_like(w1), "b1": np.zeros_like(b1), "w2": np.zeros_like(w2),
         "b2": np.zeros_like(b2)}
    for i in batch:
        pre, h, p = forward(X[i], w1, b1, w2, b2)
        dz = p - np.eye(2)[Y[i, 0]]
        dh = (w2.T @ dz) * (pre > 0)
        g["w2"] += np.outer(dz, h) / len(batch)
        g["b2"] += dz / len(batch)
        g["w1"] += np.outer(dh, X[i]) / len(batch)
        g["b1"] += dh / len(batch)
    return g


def weights(model, layer):
    nn = model.spec.neuralNetwork
    params = next(x for x in nn.layers if x.name == layer).innerProduct
    out = np.array(params.weights.floatValue, dtype=np.float32)
    return out.reshape(-1, params.inputChannels), np.array(params.bias.floatValue)


def test_one_sgd_step_cross_entropy_on_softmax():
    model = ReferenceModel(classifier())
    updated = model.update({"x": X[:2], "probs_true": Y[:2]}, parameters=NO_SHUFFLE)
    g = cce_grads([0, 1])
    w2, b2 = weights(updated, "dense2")
    np.testing.assert_allclose(w2, W2 - 0.1 * g["w2"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b2, B2 - 0.1 * g["b2"], rtol=1e-5, atol=1e-6)
    w1, b1 = weights(updated, "dense1")
    np.testing.assert_array_equal(w1, W1)  # not updatable: untouched
    loss = np.mean([-np.log(forward(X[i])[2][Y[i, 0]]) for i in (0, 1)])
    assert updated.training_run.losses == pytest.approx([loss], rel=1e-5)
    _, _, p = forward(X[0], w2=w2, b2=b2)
    np.testing.assert_allclose(updated.predict({"x": X[0]})["probs"].reshape(-1), p, rtol=1e-5)


def test_gradient_flows_through_frozen_layers_into_an_earlier_updatable_layer():
    updated = ReferenceModel(classifier(trainable=("dense1",))).update(
        {"x": X[:2], "probs_true": Y[:2]}, parameters=NO_SHUFFLE)
    g = cce_grads([0, 1])
    w1, b1 = weights(updated, "dense1")
    np.testing.assert_allclose(w1, W1 - 0.1 * g["w1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, B1 - 0.1 * g["b1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(weights(updated, "dense2")[0], W2)


def test_sgd_momentum_over_mini_batches_and_epochs():
    spec = classifier(optimizer=SgdParams(lr=0.2, batch=2, momentum=0.9), epochs=2)
    updated = ReferenceModel(spec).update({"x": X, "probs_true": Y}, parameters=NO_SHUFFLE)
    w2, b2, v_w, v_b = W2.astype(np.float64), B2.astype(np.float64), 0, 0
    for _epoch in range(2):
        for batch in ([0, 1], [2, 3], [4]):  # the last partial batch is kept
            g = cce_grads(batch, w2=w2, b2=b2)
            v_w, v_b = 0.9 * v_w + g["w2"], 0.9 * v_b + g["b2"]
            w2, b2 = w2 - 0.2 * v_w, b2 - 0.2 * v_b
    got_w, got_b = weights(updated, "dense2")
    np.testing.assert_allclose(got_w, w2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_b, b2, rtol=1e-4, atol=1e-5)
    run = updated.training_run
    assert len(run.losses) == 2 and run.batches[0] == [[0, 1], [2, 3], [4]]


def test_adam_two_steps_with_bias_correction():
    spec = classifier(optimizer=AdamParams(lr=0.05, batch=2, beta1=0.8, beta2=0.95, eps=1e-3))
    updated = ReferenceModel(spec).update({"x": X[:4], "probs_true": Y[:4]},
                                          parameters=NO_SHUFFLE)
    w, m, v = W2.astype(np.float64), 0.0, 0.0
    b = B2.astype(np.float64)
    mb, vb = 0.0, 0.0
    for t, batch in enumerate(([0, 1], [2, 3]), start=1):
        g = cce_grads(batch, w2=w, b2=b)
        m, v = 0.8 * m + 0.2 * g["w2"], 0.95 * v + 0.05 * g["w2"] ** 2
        mb, vb = 0.8 * mb + 0.2 * g["b2"], 0.95 * vb + 0.05 * g["b2"] ** 2
        w = w - 0.05 * (m / (1 - 0.8 ** t)) / (np.sqrt(v / (1 - 0.95 ** t)) + 1e-3)
        b = b - 0.05 * (mb / (1 - 0.8 ** t)) / (np.sqrt(vb / (1 - 0.95 ** t)) + 1e-3)
    got_w, got_b = weights(updated, "dense2")
    np.testing.assert_allclose(got_w, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_b, b, rtol=1e-4, atol=1e-5)


def test_mean_squared_error_regression_head():
    targets = np.random.default_rng(5).normal(size=(3, 2))
    updated = ReferenceModel(regressor()).update({"x": X[:3], "y_true": targets},
                                                 parameters=NO_SHUFFLE)
    w, b = (W2 @ W1 * 0.5).astype(np.float32).astype(np.float64), B2.astype(np.float64)
    gw, gb, losses = 0, 0, []
    for i in range(3):
        err = w @ X[i] + b - targets[i]
        losses.append(np.mean(err ** 2))
        gw = gw + np.outer(2 * err / 2, X[i]) / 3  # d mean(err²)/dy = 2·err/n, n = 2
        gb = gb + (2 * err / 2) / 3
    got_w, got_b = weights(updated, "head")
    np.testing.assert_allclose(got_w, w - 0.05 * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b - 0.05 * gb, rtol=1e-5, atol=1e-6)
    assert updated.training_run.losses == pytest.approx([np.mean(losses)], rel=1e-5)


def test_last_batch_drop_epochs_override_and_seeded_shuffle():
    model = ReferenceModel(classifier())
    data = {"x": X, "probs_true": Y}
    dropped = model.update(data, parameters=NO_SHUFFLE, last_batch="drop").training_run
    assert dropped.batches == [[[0, 1], [2, 3]]]
    run = model.update(data, epochs=3, parameters={"seed": 11}).training_run
    assert len(run.losses) == 3
    rng = np.random.default_rng(11)
    assert run.order == [rng.permutation(5).tolist() for _ in range(3)]


def test_wrong_target_and_bad_overrides_name_what_is_wrong():
    model = ReferenceModel(classifier())
    with pytest.raises(Exception, match=r"class index 2 is outside \[0, 1\]"):
        model.update({"x": X[:1], "probs_true": [[2]]})
    with pytest.raises(Exception, match="has no target 'probs_true'"):
        model.update({"x": X[:1]})
    with pytest.raises(TrainingSetupError, match=r"epochs.*not in the allowed set"):
        model.update({"x": X[:1], "probs_true": Y[:1]}, epochs=4)
    with pytest.raises(TrainingSetupError, match=r"learningRate.*outside the allowed range"):
        model.update({"x": X[:1], "probs_true": Y[:1]}, parameters={"learning_rate": 5.0})


def _broken(mutate):
    spec = classifier()
    mutate(spec)
    return spec


@pytest.mark.parametrize("mutate, message", [
    (lambda s: setattr(s.neuralNetwork.updateParams.lossLayers[0]
                       .categoricalCrossEntropyLossLayer, "input", "z"),
     r"categoricalCrossEntropyLossLayer.input 'z' is produced by a innerProduct layer "
     r"\('dense2'\); categorical cross-entropy needs the output of a softmax layer"),
    (lambda s: setattr(s.neuralNetwork.layers[1], "isUpdatable", True),
     r"layer 'relu' is marked isUpdatable but is a activation layer; only convolution and "
     r"innerProduct"),
    (lambda s: setattr(s.neuralNetwork.updateParams.optimizer.sgdOptimizer.learningRate,
                       "defaultValue", 2.0),
     r"sgdOptimizer.learningRate = 2.0 is outside the allowed range \[0.0, 1.0\]"),
    (lambda s: setattr(s.neuralNetwork.updateParams.optimizer.sgdOptimizer.miniBatchSize,
                       "defaultValue", 3),
     r"miniBatchSize = 3 is not in the allowed set \[2\]"),
    (lambda s: s.neuralNetwork.updateParams.ClearField("epochs"), "updateParams.epochs is not set"),
    (lambda s: s.description.trainingInput[1].type.stringType.SetInParent(),
     r"trainingInput 'probs_true' \(the categoricalCrossEntropyLossLayer target\) is "
     r"stringType; expected multiArrayType or int64Type"),
    (lambda s: setattr(s, "isUpdatable", False), "isUpdatable is false"),
    (lambda s: s.neuralNetwork.updateParams.lossLayers.add(name="loss2"),
     "updateParams.lossLayers holds 2 loss layers; exactly one is supported"),
    (lambda s: s.description.trainingInput.pop(1),
     r"target 'probs_true' is not among description.trainingInput \(x\)"),
    (lambda s: setattr(s.neuralNetwork.layers[2].innerProduct.bias, "isUpdatable", False),
     r"layer 'dense2': innerProduct.bias.isUpdatable is false"),
    (lambda s: s.neuralNetwork.layers[1].activation.leakyReLU.SetInParent(),
     r"layer 'relu' \(activation\) does not support backpropagation and lies between "
     r"updatable layer 'dense1'"),
])
def test_validator_rejects_broken_training_set_ups(mutate, message):
    spec = _broken(mutate)
    if "backpropagation" in message:
        spec.neuralNetwork.layers[0].isUpdatable = True
        for wp in (spec.neuralNetwork.layers[0].innerProduct.weights,
                   spec.neuralNetwork.layers[0].innerProduct.bias):
            wp.isUpdatable = True
    with pytest.raises(TrainingSetupError, match=message):
        ReferenceModel(spec).update({"x": X[:2], "probs_true": Y[:2]})


def test_updated_model_saves_loads_in_coremltools_and_lints_clean(tmp_path):
    updated = ReferenceModel(classifier()).update({"x": X, "probs_true": Y})
    path = updated.save(tmp_path / "Updated.mlmodel")
    spec = ct.models.MLModel(str(path)).get_spec()
    assert spec.isUpdatable and spec.neuralNetwork.layers[2].innerProduct.weights.isUpdatable
    reloaded = ReferenceModel(path)
    np.testing.assert_array_equal(reloaded.predict({"x": X[0]})["probs"],
                                  updated.predict({"x": X[0]})["probs"])
    assert not [f for f in lint(str(path)).findings if f.severity == "error"]
    again = reloaded.update({"x": X, "probs_true": Y})  # the saved model trains again
    assert not np.array_equal(weights(again, "dense2")[0], weights(reloaded, "dense2")[0])


def test_original_model_is_not_changed_by_an_update():
    model = ReferenceModel(classifier())
    before = copy.deepcopy(model.spec)
    p0 = model.predict({"x": X[0]})["probs"]
    model.update({"x": X, "probs_true": Y})
    assert model.spec == before
    np.testing.assert_array_equal(model.predict({"x": X[0]})["probs"], p0)


@pytest.mark.parametrize("placement", ["v_hat", "v"])
def test_adam_epsilon_placement(placement):
    spec = classifier(optimizer=AdamParams(lr=0.05, batch=2, beta1=0.9, beta2=0.99, eps=0.5))
    updated = ReferenceModel(spec).update({"x": X[:2], "probs_true": Y[:2]},
                                          parameters=NO_SHUFFLE, adam_eps=placement)
    g = cce_grads([0, 1])["w2"]
    m_hat, v_hat = (0.1 * g) / 0.1, (0.01 * g ** 2) / 0.01
    eps = 0.5 if placement == "v_hat" else 0.5 / np.sqrt(1 - 0.99)
    np.testing.assert_allclose(weights(updated, "dense2")[0],
                               W2 - 0.05 * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-5, atol=1e-6)


def test_classifier_trained_on_its_string_labels():
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    from .builders import quiet

    b = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("probs", None)], mode="classifier")
    b.add_inner_product("dense", W1[:, :3].copy(), B1, 3, 3, True, "x", "z")
    b.add_softmax("softmax", "z", "probs")
    b.set_class_labels(["cat", "dog", "owl"], predicted_feature_name="label",
                       prediction_blob="probs")
    b.make_updatable(["dense"])
    quiet(b.set_categorical_cross_entropy_loss, "loss", "probs")
    b.set_sgd_optimizer(SgdParams(lr=0.3, batch=1, momentum=0.0))
    b.set_epochs(1)
    assert [f.name for f in b.spec.description.trainingInput] == ["x", "label"]
    x = np.array([0.5, -1.0, 2.0], np.float32)
    updated = ReferenceModel(b.spec).update([{"x": x, "label": "owl"}])
    z = W1[:, :3] @ x + B1
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    dz = p - np.eye(3)[2]
    got = np.array(updated.spec.neuralNetworkClassifier.layers[0].innerProduct.weights
                   .floatValue).reshape(3, 3)
    np.testing.assert_allclose(got, W1[:, :3] - 0.3 * np.outer(dz, x), rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="label 'eel' is not a class label"):
        ReferenceModel(b.spec).update([{"x": x, "label": "eel"}])
