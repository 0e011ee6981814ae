"""Fixtures for the TensorFlow tests; the Keras builders (and the environment they need) are in
``helpers``."""

from __future__ import annotations

import pytest

from .helpers import gray_cnn


@pytest.fixture
def nn_engine():
    """Skip when the NeuralNetwork engine of the reference executor is not installed."""
    return pytest.importorskip("pytest_coremlcheck.reference.neuralnetwork.engine")


@pytest.fixture(scope="session")
def keras_files(tmp_path_factory):
    """Saved copies of ``gray_cnn``: ``.h5``, ``.keras`` and a SavedModel directory."""
    pytest.importorskip("tensorflow")
    root = tmp_path_factory.mktemp("keras_files")
    model = gray_cnn()
    out = {"model": model, "h5": root / "gray_cnn.h5", "keras": root / "gray_cnn.keras",
           "savedmodel": root / "gray_cnn_savedmodel"}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(out["h5"])
        model.save(out["keras"])
        model.save(out["savedmodel"], save_format="tf")
    return out
