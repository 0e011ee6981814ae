"""Model files as sources: safe Keras loading, Lambda layers, custom objects, SavedModels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pytest_coremlcheck.sources import SourceError, as_source

tf = pytest.importorskip("tensorflow")
keras2 = pytest.importorskip("tf_keras")

from pytest_coremlcheck.sources.tensorflow import TensorFlowSource  # noqa: E402


def _save(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    return path


def _lambda_model():
    keras2.utils.set_random_seed(0)
    x = keras2.Input((4,), name="x")
    y = keras2.layers.Lambda(lambda t: t * 2.0, name="double_it")(keras2.layers.Dense(3)(x))
    return keras2.Model(x, y)


class PlusOne(keras2.layers.Layer):
    def call(self, inputs):
        return inputs + 1.0


def _custom_model():
    keras2.utils.set_random_seed(0)
    x = keras2.Input((4,), name="x")
    return keras2.Model(x, PlusOne(name="plus_one")(keras2.layers.Dense(3)(x)))


@pytest.mark.parametrize("kind", ["h5", "keras", "savedmodel"])
def test_saved_files_run_like_the_model(kind, keras_files):
    model = keras_files["model"]
    src = as_source(keras_files[kind])
    image = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    (out,) = src.run({"image": image}, ["image"])
    np.testing.assert_allclose(out, model(image.transpose(0, 2, 3, 1)).numpy(), rtol=1e-5,
                               atol=1e-6)
    assert src.layout_notes and "NCHW" in src.layout_notes[0]


def test_savedmodel_with_one_signature_converts_from_its_path(keras_files):
    src = as_source(keras_files["savedmodel"])
    feed = {"image": np.zeros((1, 28, 28, 1), np.float32)}
    assert src.conversion_source(feed, ["image"]) == str(keras_files["savedmodel"])
    assert "signature 'serving_default'" in src.describe()


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_lambda_layers_are_refused_naming_the_file_and_layer(suffix, tmp_path):
    path = _save(_lambda_model(), tmp_path / f"lambda{suffix}")
    with pytest.raises(SourceError) as info:
        as_source(path)
    message = str(info.value)
    assert str(path) in message and "'double_it'" in message
    assert "allow_unsafe_deserialization=True" in message


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_lambda_layers_load_when_the_user_opts_in(suffix, tmp_path):
    model = _lambda_model()
    path = _save(model, tmp_path / f"lambda{suffix}")
    src = TensorFlowSource(path, allow_unsafe_deserialization=True)
    x = np.random.default_rng(0).random((1, 4), dtype=np.float32)
    np.testing.assert_allclose(src.run({"x": x}, ["x"])[0], model(x).numpy(), rtol=1e-6)


def test_keras3_file_with_a_lambda_layer_is_refused(tmp_path):
    keras = pytest.importorskip("keras")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Lambda(lambda t: t + 1.0, name="shift")(x))
    path = _save(model, tmp_path / "k3_lambda.keras")
    with pytest.raises(SourceError, match=r"k3_lambda\.keras: refusing to load Lambda layer\(s\) "
                                          r"'shift'"):
        as_source(path)
    src = TensorFlowSource(path, allow_unsafe_deserialization=True)
    assert "Keras 3 model" in src.describe()


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_custom_layers_need_custom_objects(suffix, tmp_path):
    path = _save(_custom_model(), tmp_path / f"custom{suffix}")
    with pytest.raises(SourceError) as info:
        as_source(path)
    message = str(info.value)
    assert str(path) in message
    assert "layer(s) 'plus_one' (class PlusOne) needs custom objects" in message
    src = TensorFlowSource(path, custom_objects={"PlusOne": PlusOne})
    (out,) = src.run({"x": np.zeros((1, 4), np.float32)}, ["x"])
    assert out.shape == (1, 3)


@pytest.mark.parametrize("name, text", [
    ("missing.h5", "no such file or directory"),
    ("weights_only.h5", "holds weights only"),
    ("model.onnx", "unsupported source file"),
    ("not_a_model_dir", "not a SavedModel directory"),
])
def test_bad_paths_are_clear_errors(name, text, tmp_path):
    path = tmp_path / name
    if name == "weights_only.h5":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _custom_model().save_weights(path)
    elif name == "model.onnx":
        path.write_bytes(b"\0")
    elif name == "not_a_model_dir":
        path.mkdir()
    with pytest.raises(SourceError, match=text) as info:
        as_source(path)
    assert str(path) in str(info.value)
