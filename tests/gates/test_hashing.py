"""Model and input hashes: stable for the same model and inputs, different otherwise."""

import shutil

import numpy as np
import torch
from PIL import Image

from pytest_coremlcheck import assert_equivalent, tensors
from pytest_coremlcheck.coreml.features import describe
from pytest_coremlcheck.coreml.hashing import inputs_hash, model_hash
from pytest_coremlcheck.coreml.loading import LoadedModel, load_model

from ..helpers import convert_image_model, tiny_conv_net


def test_model_hash_is_stable_across_saves_and_changes_with_weights(saved_models, tmp_path):
    again = tmp_path / "Again.mlpackage"
    convert_image_model(tiny_conv_net()).save(str(again))  # new manifest ids, same model
    first = model_hash(load_model(saved_models["image_fp32"]))
    assert len(first) == 64
    assert model_hash(load_model(again)) == first
    assert model_hash(load_model(saved_models["image_perturbed"])) != first
    assert model_hash(load_model(saved_models["image_fp16"])) != first
    copy = tmp_path / "Copy.mlpackage"
    shutil.copytree(saved_models["image_fp32"], copy)
    weights = next((copy / "Data").rglob("weight.bin"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert model_hash(load_model(copy)) != first


def test_conversion_date_does_not_change_the_hash(saved_models, tmp_path):
    import coremltools as ct

    copy = tmp_path / "Later.mlpackage"
    shutil.copytree(saved_models["image_fp32"], copy)
    loaded = load_model(copy)
    key = "com.github.apple.coremltools.conversion_date"
    assert key in loaded.spec.description.metadata.userDefined
    loaded.spec.description.metadata.userDefined[key] = "2031-01-01"
    spec_file = next((copy / "Data").rglob("model.mlmodel"))
    ct.utils.save_spec(loaded.spec, str(spec_file))
    assert model_hash(load_model(copy)) == model_hash(load_model(saved_models["image_fp32"]))


def test_model_hash_of_a_spec_in_memory():
    model = convert_image_model(tiny_conv_net())
    spec = model.get_spec()
    first = model_hash(LoadedModel(spec, model.weights_dir, "<MLModel>"))
    assert model_hash(LoadedModel(model.get_spec(), model.weights_dir, "<MLModel>")) == first
    spec.description.input[0].name = "other"
    assert model_hash(LoadedModel(spec, model.weights_dir, "<MLModel>")) != first


def test_inputs_hash_covers_names_dtypes_shapes_bytes_and_order():
    a = {"x": np.arange(6, dtype=np.float32).reshape(1, 6)}
    b = {"x": np.ones((1, 6), np.float32)}
    base = inputs_hash([a, b])
    assert inputs_hash([dict(a), dict(b)]) == base
    assert inputs_hash([b, a]) != base
    assert inputs_hash([{"y": a["x"]}, b]) != base
    assert inputs_hash([{"x": a["x"].astype(np.float64)}, b]) != base
    assert inputs_hash([{"x": a["x"].reshape(6, 1)}, b]) != base
    changed = a["x"].copy()
    changed[0, 0] = 1e-7
    assert inputs_hash([{"x": changed}, b]) != base
    pixels = np.zeros((4, 4, 3), np.uint8)
    assert inputs_hash([{"x": Image.fromarray(pixels)}]) != inputs_hash([{"x": pixels}])


def test_results_carry_both_hashes(saved_models):
    path = saved_models["two_outputs"]
    torch.manual_seed(0)
    from ..helpers import two_outputs

    result = assert_equivalent(two_outputs(), path, tensors(n=2, seed=3), backend="reference")
    features = describe(load_model(path).spec.description.input)
    feeds = [s.coreml for s in tensors(n=2, seed=3).materialize(features)]
    assert result.model_hash == model_hash(load_model(path))
    assert result.inputs_hash == inputs_hash(feeds)
    assert result.inputs_hash != inputs_hash(
        [s.coreml for s in tensors(n=2, seed=4).materialize(features)])
    d = result.to_dict()
    assert d["model_hash"] == result.model_hash and d["inputs_hash"] == result.inputs_hash
    assert [sorted(o) for o in result.converted_outputs] == [["first", "second"]] * 2
