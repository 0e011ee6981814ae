"""TensorFlowSource on every kind of model: outputs, input matching, layout, descriptions."""

import numpy as np
import pytest

from pytest_coremlcheck.sources import SourceError, as_source

from .helpers import dense_two_inputs, gray_cnn, keras3_mlp, rgb_conv

tf = pytest.importorskip("tensorflow")

from pytest_coremlcheck.sources.tensorflow import TensorFlowSource  # noqa: E402


def _rng():
    return np.random.default_rng(0)


def test_tf_keras_model_dispatches_and_matches_its_own_call():
    model = dense_two_inputs()
    src = as_source(model)
    assert isinstance(src, TensorFlowSource) and src.framework == "tensorflow"
    feed = {"alpha": _rng().random((1, 3)), "zeta": _rng().random((1, 4))}
    # Core ML orders these inputs alphabetically; the source matches them by name.
    out = src.run(feed, ["alpha", "zeta"])
    expected = model([feed["zeta"].astype(np.float32), feed["alpha"].astype(np.float32)])
    assert [o.shape for o in out] == [(1, 2), (1, 5)]
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6)
    assert src.describe().startswith("tensorflow ") and "tf_keras model" in src.describe()
    converted_from = src.conversion_source(feed, ["alpha", "zeta"])
    if isinstance(model, tf.keras.Model):  # tf.keras is tf_keras: ct.convert takes the model
        assert converted_from is model
    else:  # tf.keras is Keras 3: ct.convert gets one concrete function named after the inputs
        (function,) = converted_from
        names = [s.name for s in tf.nest.flatten(function.structured_input_signature)]
        assert names == ["zeta", "alpha"]


def test_nchw_image_feed_is_transposed_for_an_nhwc_model_and_said_so():
    model = rgb_conv()
    src = as_source(model)
    nchw = _rng().random((1, 3, 16, 16)).astype(np.float32)
    (out,) = src.run({"image": nchw}, ["image"])
    np.testing.assert_allclose(out, model(nchw.transpose(0, 2, 3, 1)).numpy(), rtol=1e-6)
    assert src.layout_notes == ["input 'image': NCHW (1, 3, 16, 16) → NHWC (1, 16, 16, 3) for "
                                "the TensorFlow model"]
    assert "(inputs NCHW→NHWC: image)" in src.describe()


def test_nhwc_feed_is_passed_unchanged():
    src = as_source(rgb_conv())
    src.run({"image": _rng().random((1, 16, 16, 3))}, ["image"])
    assert src.layout_notes == []


def test_keras3_model_runs_and_converts_through_one_concrete_function():
    model = keras3_mlp()
    src = as_source(model)
    feed = {"x": _rng().random((1, 8)).astype(np.float32)}
    (out,) = src.run(feed, ["x"])
    np.testing.assert_allclose(out, np.asarray(model(feed["x"])), rtol=1e-6)
    assert "Keras 3 model" in src.describe()
    (function,) = src.conversion_source(feed, ["x"])
    assert isinstance(function, tf.types.experimental.ConcreteFunction)
    assert [s.name for s in tf.nest.flatten(function.structured_input_signature)] == ["x"]
    # a single input takes the check's name for it: the converted model's input is named so
    renamed = TensorFlowSource(model).conversion_source({"features": feed["x"]}, ["features"])
    assert [s.name for s in tf.nest.flatten(renamed[0].structured_input_signature)] == \
        ["features"]


def test_concrete_function_and_tf_function_sources():
    weights = tf.constant(_rng().random((4, 2)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32, name="x")])
    def signed(x):
        return tf.nn.relu(tf.matmul(x, weights))

    @tf.function
    def unsigned(x):
        return {"b": x * 2.0, "a": tf.reduce_sum(x, axis=-1)}

    feed = {"x": _rng().random((1, 4)).astype(np.float32)}
    concrete = signed.get_concrete_function()
    for model in (signed, concrete):
        src = as_source(model)
        (out,) = src.run(feed, ["x"])
        np.testing.assert_allclose(out, signed(feed["x"]).numpy())
        assert src.conversion_source(feed, ["x"])[0].name == concrete.name or model is signed
    src = as_source(unsigned)
    a, b = src.run(feed, ["x"])  # dict outputs flatten in sorted-key order
    assert a.shape == (1,) and b.shape == (1, 4)
    assert "tf.function" in src.describe()


def test_multi_input_feed_missing_a_name_is_a_clear_error():
    src = as_source(dense_two_inputs())
    with pytest.raises(SourceError, match=r"no feed for input\(s\) 'alpha'; the feed has 'zeta'"):
        src.run({"zeta": np.zeros((1, 4))}, ["zeta"])


def test_a_source_that_raises_names_the_model_and_its_inputs():
    src = as_source(gray_cnn())
    with pytest.raises(SourceError, match=r"tf_keras model Sequential 'gray_cnn' raised .*"
                                          r"model inputs: image \(None, 28, 28, 1\)"):
        src.run({"image": np.zeros((1, 5, 5, 5), np.float32)}, ["image"])


def test_a_source_object_passes_through_as_source():
    src = TensorFlowSource(keras3_mlp())
    assert as_source(src) is src
