"""Runtime selection, and real Core ML where it exists (the macOS CI job)."""

import platform

import numpy as np
import pytest

from pytest_coremlcheck import assert_equivalent, tensors
from pytest_coremlcheck.errors import RuntimeUnavailable
from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.runtimes import coreml_available, parse_compute_units, resolve_backend

from .helpers import tiny_conv_net


def test_auto_picks_what_runs_here():
    expected = "coreml" if coreml_available() else "reference"
    assert resolve_backend("auto") == expected
    assert resolve_backend("reference") == "reference"
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        resolve_backend("gpu")


@pytest.mark.skipif(coreml_available(), reason="Core ML is available here")
def test_coreml_backend_off_macos_says_why():
    with pytest.raises(RuntimeUnavailable, match=f"needs macOS.*{platform.system()}"):
        resolve_backend("coreml")


def test_compute_units_parse():
    assert parse_compute_units("cpu_only, ALL") == ["CPU_ONLY", "ALL"]
    with pytest.raises(ValueError, match="unknown compute unit.*GPU_ONLY"):
        parse_compute_units("GPU_ONLY")


@pytest.mark.skipif(not coreml_available(), reason="needs macOS with Core ML")
@pytest.mark.parametrize("unit", ["CPU_ONLY", "ALL"])
def test_real_coreml_agrees_with_the_reference_executor(saved_models, unit):
    import coremltools as ct
    from PIL import Image

    result = assert_equivalent(tiny_conv_net(), saved_models["image_fp32"], tensors(n=2),
                               backend="coreml", compute_units=[unit])
    assert result.backend == "coreml" and unit in result.platform
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8))
    real = ct.models.MLModel(str(saved_models["image_fp32"]),
                             compute_units=ct.ComputeUnit.CPU_ONLY).predict({"image": image})
    ours = ReferenceModel(saved_models["image_fp32"]).predict({"image": image})
    np.testing.assert_allclose(ours["probs"], real["probs"], rtol=1e-3, atol=1e-5)
