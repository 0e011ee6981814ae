"""Image preprocessing read from and written into a converted model's spec."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from PIL import Image

from pytest_coremlcheck.convert.on_the_fly import quiet
from pytest_coremlcheck.localize.image_spec import image_inputs, with_preprocessing
from pytest_coremlcheck.reference import ReferenceModel

PIXELS = np.array([[[10, 20, 30], [40, 50, 60]], [[70, 80, 90], [200, 210, 220]]], np.uint8)


def _weighted_sum() -> torch.nn.Module:
    """A 1×1 conv: out = 1·c0 + 10·c1 + 100·c2 (no bias)."""
    conv = torch.nn.Conv2d(3, 1, 1, bias=False)
    conv.weight.data = torch.tensor([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1)
    return conv.eval()


@pytest.fixture(scope="module", params=["mlprogram", "neuralnetwork"])
def converted(request):
    """(kind, plain conversion: scale 1 / no bias / RGB, conversion with BGR and a bias)."""
    def convert(**image_type):
        precision = {"compute_precision": ct.precision.FLOAT32} \
            if request.param == "mlprogram" else {}
        with quiet():
            return ct.convert(torch.jit.trace(_weighted_sum(), torch.rand(1, 3, 2, 2)),
                              inputs=[ct.ImageType(name="image", shape=(1, 3, 2, 2),
                                                   **image_type)],
                              convert_to=request.param, skip_model_load=True, **precision)

    return request.param, convert(), convert(scale=1 / 255, bias=[-0.1, -0.2, -0.3],
                                             color_layout=ct.colorlayout.BGR)


def test_preprocessing_is_read_as_imagetype_declared_it(converted):
    _, plain, biased = converted
    (read,) = image_inputs(plain.get_spec())
    assert (read.name, read.scale, read.color_layout) == ("image", 1.0, "RGB")
    assert np.allclose(read.bias, 0.0)
    (read,) = image_inputs(biased.get_spec())
    assert read.color_layout == "BGR" and read.scale == pytest.approx(1 / 255)
    assert read.bias == pytest.approx([-0.1, -0.2, -0.3])


def test_edited_preprocessing_computes_the_new_formula(converted):
    kind, plain, _ = converted
    scale, bias = 1 / 255, [0.5, -0.25, 0.1]
    spec = with_preprocessing(plain.get_spec(), "image", scale, bias, "BGR")
    model = ct.models.MLModel(spec, weights_dir=plain.weights_dir, skip_model_load=True) \
        if kind == "mlprogram" else spec
    out = next(iter(ReferenceModel(model).predict({"image": Image.fromarray(PIXELS)}).values()))
    bgr = PIXELS[..., ::-1].astype(np.float64)  # channel 0 is blue
    channels = [bgr[..., c] * scale + bias[c] for c in range(3)]
    expected = channels[0] * 1 + channels[1] * 10 + channels[2] * 100
    assert np.allclose(np.asarray(out).reshape(2, 2), expected, rtol=1e-5)
    (read,) = image_inputs(spec)
    assert read.color_layout == "BGR" and read.bias == pytest.approx(bias)
