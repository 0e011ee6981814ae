"""ReferenceModel: MLModel.predict semantics, input validation and load errors."""

import shutil

import coremltools as ct
import numpy as np
import pytest
import torch
from PIL import Image

from pytest_coremlcheck.reference import (
    InputError,
    ModelLoadError,
    ReferenceModel,
    UnsupportedOpError,
)

from .helpers import tiny_conv_net, two_outputs


def _image(seed=0, size=32):
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_image_model_matches_torch(saved_models):
    model = ReferenceModel(saved_models["image_fp32"])
    assert model.platform == "reference executor, fp32"
    image = _image()
    out = model.predict({"image": image})
    assert list(out) == ["probs"] and out["probs"].dtype == np.float32
    x = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1)[None] / 255)
    np.testing.assert_allclose(out["probs"], tiny_conv_net()(x).detach().numpy(), atol=1e-6)


def test_fp16_program_is_typed_and_close(saved_models):
    model = ReferenceModel(saved_models["image_fp16"])
    assert model.precision == "fp16" and model.platform == "reference executor, fp16-typed"
    ideal = ReferenceModel(saved_models["image_fp16"], fp16_mode="fp32")
    assert ideal.platform == "reference executor, fp16 program run in fp32"
    a = model.predict({"image": _image()})["probs"]
    b = ideal.predict({"image": _image()})["probs"]
    assert not np.array_equal(a, b)  # rounding per op changes results…
    np.testing.assert_allclose(a, b, atol=1e-2)  # …but only at fp16 precision


def test_multiple_named_outputs(saved_models):
    model = ReferenceModel(saved_models["two_outputs"])
    x, y = np.ones((1, 6), np.float32), np.full((1, 6), 2, np.float32)
    out = model.predict({"x": x, "y": y})
    ta, tb = two_outputs()(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(out["first"], ta.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(out["second"], tb.detach().numpy(), atol=1e-6)


def test_input_errors_name_the_input(saved_models):
    model = ReferenceModel(saved_models["two_outputs"])
    ok = np.ones((1, 6), np.float32)
    with pytest.raises(InputError, match="missing input 'y'.*shape \\(1, 6\\)"):
        model.predict({"x": ok})
    with pytest.raises(InputError, match="unknown input\\(s\\) z"):
        model.predict({"x": ok, "y": ok, "z": ok})
    with pytest.raises(InputError, match="input 'x': shape \\(1, 7\\) does not match"):
        model.predict({"x": np.ones((1, 7)), "y": ok})
    image_model = ReferenceModel(saved_models["image_fp32"])
    with pytest.raises(InputError, match="image is 16x16, the model expects 32x32"):
        image_model.predict({"image": _image(size=16)})
    with pytest.raises(InputError, match="expected a PIL.Image"):
        image_model.predict({"image": np.zeros((1, 3, 32, 32))})


def test_load_errors_name_the_file(tmp_path, saved_models):
    with pytest.raises(ModelLoadError, match="missing.mlpackage: no such file"):
        ReferenceModel(tmp_path / "missing.mlpackage")
    corrupt = tmp_path / "corrupt.mlmodel"
    corrupt.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelLoadError, match="corrupt.mlmodel: not a valid Core ML model"):
        ReferenceModel(corrupt)
    truncated = tmp_path / "Truncated.mlpackage"
    shutil.copytree(saved_models["image_fp32"], truncated)
    spec_file = next(truncated.rglob("model.mlmodel"))
    spec_file.write_bytes(spec_file.read_bytes()[:40])
    with pytest.raises(ModelLoadError, match="Truncated.mlpackage"):
        ReferenceModel(truncated)
    no_weights = tmp_path / "NoWeights.mlpackage"
    shutil.copytree(saved_models["image_fp32"], no_weights)
    shutil.rmtree(next(no_weights.rglob("weights")))
    with pytest.raises(ModelLoadError, match="NoWeights.mlpackage"):
        ReferenceModel(no_weights)
    with pytest.raises(ModelLoadError, match="compiled .mlmodelc"):
        (tmp_path / "X.mlmodelc").mkdir()
        ReferenceModel(tmp_path / "X.mlmodelc")


def test_unknown_op_is_a_clear_error(monkeypatch):
    from coremltools.converters.mil import Builder as mb

    from pytest_coremlcheck.reference.mil import registry

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3))])
    def prog(x):
        return mb.relu(x=x)

    mlmodel = ct.convert(prog, convert_to="mlprogram", skip_model_load=True)
    monkeypatch.setitem(registry._IMPLS, "relu", {})
    with pytest.raises(UnsupportedOpError, match="op .* of type 'relu' \\(opset iOS15\\) is not "
                                                 "implemented"):
        ReferenceModel(mlmodel)
