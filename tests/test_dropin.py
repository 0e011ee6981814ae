"""Drop-in: a suite that only calls MLModel.predict runs under --coreml-backend=reference."""

import pytest

from pytest_coremlcheck.runtimes import coreml_available

EXISTING_SUITE = """
import coremltools as ct
import numpy as np
import torch


def convert():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
    traced = torch.jit.trace(net, torch.ones(1, 4))
    return net, ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 4))],
                           outputs=[ct.TensorType(name="y")],
                           compute_precision=ct.precision.FLOAT32)


def test_predict_matches_torch():
    net, mlmodel = convert()
    x = np.random.default_rng(0).random((1, 4), dtype=np.float32)
    out = mlmodel.predict({"x": x})
    np.testing.assert_allclose(out["y"], net(torch.from_numpy(x)).detach().numpy(), atol=1e-6)


def test_predict_from_a_saved_package(tmp_path):
    _, mlmodel = convert()
    mlmodel.save(str(tmp_path / "M.mlpackage"))
    loaded = ct.models.MLModel(str(tmp_path / "M.mlpackage"))
    assert loaded.predict({"x": np.ones((1, 4), np.float32)})["y"].shape == (1, 3)
"""


@pytest.mark.skipif(coreml_available(), reason="Core ML predicts here; nothing is patched")
def test_existing_predict_calls_run_on_the_reference_executor(pytester):
    pytester.makepyfile(test_existing=EXISTING_SUITE)
    pytester.runpytest("--coreml-backend=reference").assert_outcomes(passed=2)
    # without the option the suite fails as it always did off macOS
    pytester.runpytest().assert_outcomes(failed=2)


@pytest.mark.skipif(coreml_available(), reason="Core ML predicts here; nothing is patched")
def test_ini_enables_it_too_and_the_patch_is_undone(pytester):
    from coremltools.models import MLModel

    before = MLModel.predict
    pytester.makeini("[pytest]\ncoreml_backend = reference\n")
    pytester.makepyfile(test_existing=EXISTING_SUITE)
    pytester.runpytest().assert_outcomes(passed=2)
    assert MLModel.predict is before
