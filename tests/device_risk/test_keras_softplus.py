"""A Keras softplus (coremltools #2747): the TensorFlow frontend emits the same fp16 softplus."""

import os

import coremltools as ct
import numpy as np
import pytest

from pytest_coremlcheck import EquivalenceError, assert_equivalent

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
keras = pytest.importorskip("tf_keras")


@pytest.mark.slow  # three Keras conversions
def test_keras_softplus_above_12(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((32,), name="x"),
                              keras.layers.Activation("softplus")])
    feeds = [{"x": np.random.default_rng(0).uniform(12, 16, (1, 32)).astype(np.float32)}]
    convert = dict(minimum_deployment_target=ct.target.iOS16)
    run = dict(backend="reference", cache_dir=str(tmp_path), convert=convert)
    typed = assert_equivalent(model, None, feeds, **run)
    assert any(h["kind"] == "fp16_inside_overflow" and h["op_type"] == "softplus"
               for h in typed.hazards)
    with pytest.raises(EquivalenceError, match=r"\(softplus\)[^\n]*exp\(x\) inside the op"):
        assert_equivalent(model, None, feeds, fp16_mode="device-risk", **run)
    keep = ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type != "softplus")
    kept = dict(run, convert=dict(convert, compute_precision=keep))
    assert_equivalent(model, None, feeds, fp16_mode="device-risk", **kept)
