"""A float64 copy of a Keras model, for the source's float32 noise floor (``noise_floor``).

The model is rebuilt from its config with every ``float32`` dtype (layer dtypes and dtype
policies) widened to ``float64`` and the default float type set to ``float64`` while it is
built; its float32 weights are copied in as float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import SourceError
from . import _imports
from .callables import KerasRunner


def float64_runner(runner: KerasRunner, custom_objects: dict[str, Any] | None,
                   arrays: list[np.ndarray]) -> KerasRunner:
    """A KerasRunner of the float64 copy of ``runner.model`` (a subclassed copy is built by a
    call on ``arrays`` first); SourceError when the model has no config to rebuild from or the
    rebuild fails."""
    keras = _imports.keras3() if runner.keras3 else _imports.tf_keras()
    model = runner.model
    try:
        config = _widened(model.get_config())
    except NotImplementedError:
        raise SourceError(f"{runner.name} has no get_config() to rebuild it in float64 "
                          "from") from None
    floatx = keras.config if runner.keras3 else keras.backend
    previous = floatx.floatx()
    floatx.set_floatx("float64")
    try:
        with keras.utils.custom_object_scope(custom_objects or {}):
            copy = type(model).from_config(config)
    except Exception as exc:
        raise SourceError(f"rebuilding {runner.name} in float64 failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    finally:
        floatx.set_floatx(previous)
    widened = KerasRunner(copy, runner.keras3)
    try:
        if len(copy.weights) != len(model.weights):
            _run(widened, arrays)
        copy.set_weights([w.astype(np.float64) if w.dtype == np.float32 else w
                          for w in model.get_weights()])
    except Exception as exc:
        raise SourceError(f"copying the weights of {runner.name} into its float64 copy "
                          f"failed: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return widened


def run_float64(runner: KerasRunner, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The float64 copy's outputs on ``arrays`` (float inputs widened to float64)."""
    outputs = _run(runner, arrays)
    narrow = [i for i, o in enumerate(outputs) if o.dtype.kind == "f" and o.dtype != np.float64]
    if narrow:
        raise SourceError(f"output(s) {narrow} stay {outputs[narrow[0]].dtype} in the float64 "
                          "copy (a layer computes in a narrower float)")
    return outputs


def _run(runner: KerasRunner, arrays: list[np.ndarray]) -> list[np.ndarray]:
    return runner([a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays])


def _widened(value, in_dtype: bool = False):
    """``value`` (a Keras config) with every "float32" under a ``dtype`` key made "float64"."""
    if isinstance(value, dict):
        return {k: _widened(v, in_dtype or k == "dtype") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_widened(v, in_dtype) for v in value)
    return "float64" if in_dtype and value == "float32" else value
