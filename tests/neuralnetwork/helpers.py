"""Helpers for the NeuralNetwork executor tests: convert small torch models to
``convert_to="neuralnetwork"`` and compare the reference executor with the torch forward."""

from __future__ import annotations

import warnings

import coremltools as ct
import numpy as np
import torch

from pytest_coremlcheck.reference import ReferenceModel


def convert_nn(model: torch.nn.Module, *examples: torch.Tensor, target=ct.target.iOS14,
               inputs=None):
    """Trace ``model`` on ``examples`` and convert it to a NeuralNetwork MLModel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.eval(), examples)
        if inputs is None:
            inputs = [ct.TensorType(name=f"x{i}", shape=tuple(e.shape))
                      for i, e in enumerate(examples)]
        return ct.convert(traced, inputs=inputs, convert_to="neuralnetwork",
                          minimum_deployment_target=target)


def torch_outputs(model: torch.nn.Module, *examples: torch.Tensor) -> list[np.ndarray]:
    with torch.no_grad():
        out = model.eval()(*examples)
    if isinstance(out, torch.Tensor):
        out = (out,)
    return [o.detach().float().numpy() for o in out]


def reference_outputs(mlmodel, *examples: torch.Tensor, **kwargs) -> list[np.ndarray]:
    """Reference predictions in the spec's declared output order."""
    ref = ReferenceModel(mlmodel, **kwargs)
    feeds = {f.name: e.numpy() for f, e in zip(ref.inputs, examples)}
    out = ref.predict(feeds)
    return [out[f.name] for f in ref.outputs]


def assert_matches_torch(model: torch.nn.Module, *examples: torch.Tensor, atol=1e-4,
                         rtol=1e-4, target=ct.target.iOS14, precision="fp32"):
    """Convert, run both sides, and compare every output (shape and values)."""
    mlmodel = convert_nn(model, *examples, target=target)
    expected = torch_outputs(model, *examples)
    got = reference_outputs(mlmodel, *examples, nn_precision=precision)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape, f"shape {g.shape} != torch {e.shape}"
        np.testing.assert_allclose(g, e, atol=atol, rtol=rtol)
    return mlmodel
