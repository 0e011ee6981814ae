"""Installs without one framework: clear messages, no stray imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from pytest_coremlcheck.sources import SourceError, as_source


def test_missing_tensorflow_is_a_clear_message(monkeypatch, tmp_path):
    for name in ("tensorflow", "tf_keras", "keras"):
        monkeypatch.setitem(sys.modules, name, None)
    model_dir = tmp_path / "model.h5"
    model_dir.write_bytes(b"")
    with pytest.raises(SourceError, match=r"TensorFlow sources need TensorFlow: pip install "
                                          r"'pytest-coremlcheck\[tensorflow\]'"):
        as_source(model_dir)


def test_tensorflow_only_install_runs_a_keras_source_without_torch():
    pytest.importorskip("tensorflow")
    script = textwrap.dedent("""
        import os, sys
        sys.modules["torch"] = None  # a TensorFlow-only install
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import numpy as np
        import tensorflow as tf
        from pytest_coremlcheck.sources import as_source
        model = tf.keras.Sequential([tf.keras.Input((3,), name="x"), tf.keras.layers.Dense(2)])
        src = as_source(model)
        out = src.run({"x": np.ones((1, 3), np.float32)}, ["x"])
        assert out[0].shape == (1, 2)
        # with tf.keras = tf_keras, ct.convert takes the Keras model itself
        assert src.conversion_source({"x": np.ones((1, 3))}, ["x"]) is model
        print("ok", src.describe())
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok tensorflow" in done.stdout and "tf_keras model" in done.stdout
