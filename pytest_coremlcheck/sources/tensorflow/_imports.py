"""Lazy imports of TensorFlow, tf_keras and Keras 3, with this package's environment defaults.

Before TensorFlow is first imported, ``TF_USE_LEGACY_KERAS=1`` (``tf.keras`` is tf_keras, the
Keras that ``ct.convert`` accepts) and ``TF_CPP_MIN_LOG_LEVEL=2`` (no info logs) are set,
unless the environment already sets them. A missing package is a ``SourceError`` that says
which extra to install.
"""

from __future__ import annotations

import importlib
import os
import sys

from ..base import SourceError

ENV_DEFAULTS = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
INSTALL_HINT = "pip install 'pytest-coremlcheck[tensorflow]'"


def set_environment_defaults() -> None:
    """Apply ``ENV_DEFAULTS`` where the user has not set them and TensorFlow is not loaded."""
    if "tensorflow" in sys.modules:
        return
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def tensorflow():
    """The ``tensorflow`` module."""
    set_environment_defaults()
    return _import("tensorflow", "TensorFlow sources need TensorFlow")


def tf_keras():
    """The ``tf_keras`` module (Keras 2, what ``ct.convert`` takes as a Keras model)."""
    tensorflow()
    return _import("tf_keras", "this Keras 2 model or file needs tf_keras")


def keras3():
    """The ``keras`` module when it is Keras 3 (else a SourceError)."""
    tensorflow()
    keras = _import("keras", "this Keras 3 model or file needs keras")
    if not str(getattr(keras, "__version__", "0")).startswith("3"):
        raise SourceError(f"this model or file needs Keras 3; the installed keras is "
                          f"{keras.__version__}")
    return keras


def _import(name: str, why: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise SourceError(f"{why}: {INSTALL_HINT} ({exc})") from None
