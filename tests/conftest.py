"""Session fixtures: the builders of ``helpers`` converted and saved once."""

from __future__ import annotations

from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch

from .helpers import convert_image_model, tiny_conv_net, two_outputs


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    """Converted .mlpackage files built once per session."""
    root = tmp_path_factory.mktemp("models")
    out = {}
    net = tiny_conv_net()
    out["image_fp32"] = root / "ImageFP32.mlpackage"
    convert_image_model(net).save(str(out["image_fp32"]))
    out["image_fp16"] = root / "ImageFP16.mlpackage"
    convert_image_model(net, precision=ct.precision.FLOAT16).save(str(out["image_fp16"]))
    out["image_noscale"] = root / "ImageNoScale.mlpackage"
    convert_image_model(net, scale=1.0).save(str(out["image_noscale"]))
    perturbed = tiny_conv_net()
    with torch.no_grad():
        perturbed.conv.weight[0] += 0.5
    out["image_perturbed"] = root / "ImagePerturbed.mlpackage"
    convert_image_model(perturbed).save(str(out["image_perturbed"]))
    two = two_outputs()
    traced = torch.jit.trace(two, (torch.rand(1, 6), torch.rand(1, 6)))
    out["two_outputs"] = root / "TwoOutputs.mlpackage"
    ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 6)),
                               ct.TensorType(name="y", shape=(1, 6))],
               outputs=[ct.TensorType(name="first"), ct.TensorType(name="second")],
               compute_precision=ct.precision.FLOAT32, skip_model_load=True
               ).save(str(out["two_outputs"]))
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(0)
