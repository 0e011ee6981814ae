"""Random ops (seeded, marked random), classifier outputs, attention and linear algebra."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.mil.registry import is_random

from .helpers import convert, run, spec


def test_random_ops_run_seeded_and_are_marked_random():
    @mb.program(input_specs=[spec(1)], opset_version=ct.target.iOS17)
    def prog(x):
        return (mb.random_bernoulli(shape=np.array([2, 3], np.int32), prob=1.0),
                mb.random_uniform(shape=np.array([1000], np.int32), low=2.0, high=3.0, seed=7),
                mb.random_normal(shape=np.array([4000], np.int32), mean=5.0, stddev=0.5),
                mb.random_categorical(x=mb.const(val=np.array([[0.0, 1e4]], np.float32)),
                                      size=5, mode="logits"))

    mlmodel = convert(prog)
    names = [o.name for o in mlmodel.get_spec().description.output]
    model = ReferenceModel(mlmodel)
    first = model.predict({"x": np.zeros(1, np.float32)})
    second = model.predict({"x": np.zeros(1, np.float32)})
    bern, uniform, normal, categorical = (first[k] for k in names)
    np.testing.assert_array_equal(bern, np.ones((2, 3)))
    assert uniform.min() >= 2.0 and uniform.max() < 3.0
    assert abs(normal.mean() - 5.0) < 0.05 and abs(normal.std() - 0.5) < 0.05
    np.testing.assert_array_equal(categorical, np.ones((1, 5)))  # class 1 dominates
    for key in first:  # the same draw on every prediction
        np.testing.assert_array_equal(first[key], second[key])
    for op in ("random_bernoulli", "random_categorical", "random_normal", "random_uniform"):
        assert is_random(op)
    assert not is_random("add")


def test_classifier_returns_label_and_probabilities():
    @mb.program(input_specs=[spec(1, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.softmax(x=x, axis=-1)

    config = ct.ClassifierConfig(["cat", "dog", "bird"])
    model = ct.convert(prog, convert_to="mlprogram", classifier_config=config,
                       minimum_deployment_target=ct.target.iOS17,
                       compute_precision=ct.precision.FLOAT32, skip_model_load=True)
    out = ReferenceModel(model).predict({"x": np.array([[0.1, 2.0, -1.0]], np.float32)})
    label = model.get_spec().description.predictedFeatureName
    probs = model.get_spec().description.predictedProbabilitiesName
    assert out[label] == "dog"
    expect = np.exp([0.1, 2.0, -1.0]) / np.exp([0.1, 2.0, -1.0]).sum()
    assert set(out[probs]) == {"cat", "dog", "bird"}
    np.testing.assert_allclose([out[probs][k] for k in ("cat", "dog", "bird")], expect,
                               rtol=1e-6)


def test_scaled_dot_product_attention_with_bool_mask(rng):
    q = rng.normal(size=(1, 2, 3, 4)).astype(np.float32)
    k = rng.normal(size=(1, 2, 5, 4)).astype(np.float32)
    v = rng.normal(size=(1, 2, 5, 6)).astype(np.float32)
    mask = rng.random((3, 5)) > 0.3
    mask[:, 0] = True

    @mb.program(input_specs=[spec(1, 2, 3, 4), spec(1, 2, 5, 4), spec(1, 2, 5, 6),
                             spec(3, 5, dtype=types.bool)], opset_version=ct.target.iOS18)
    def prog(q, k, v, mask):
        return mb.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=mask)

    out = run(prog, {"q": q, "k": k, "v": v, "mask": mask}, target="iOS18")[0]
    scores = q @ k.transpose(0, 1, 3, 2) / 2.0 + np.where(mask, 0.0, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, weights @ v, rtol=1e-5, atol=1e-6)


def test_einsum_linear_matmul(rng):
    a = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    b = rng.normal(size=(2, 5, 1, 6)).astype(np.float32)  # H broadcasts
    w = rng.normal(size=(7, 6)).astype(np.float32)
    bias = rng.normal(size=7).astype(np.float32)

    @mb.program(input_specs=[spec(2, 3, 4, 5), spec(2, 5, 1, 6)], opset_version=ct.target.iOS17)
    def prog(a, b):
        e = mb.einsum(values=(a, b), equation="nchw,nwhu->nchu")
        return e, mb.linear(x=e, weight=w, bias=bias), mb.matmul(x=a, y=a, transpose_y=True)

    e, lin, mm = run(prog, {"a": a, "b": b})
    expect = torch.einsum("nchw,nwhu->nchu", torch.from_numpy(a),
                          torch.from_numpy(np.broadcast_to(b, (2, 5, 4, 6)).copy())).numpy()
    np.testing.assert_allclose(e, expect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin, expect @ w.T + bias, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mm, a @ a.transpose(0, 1, 3, 2), rtol=1e-5, atol=1e-5)
