"""Every kind of TensorFlow model behind one calling convention.

A runner has ``kind`` and ``name`` (for messages), ``inputs`` (the declared inputs, or None
when the model declares none before its first call), ``__call__(arrays)`` (flat input list in
``inputs`` order → flat output list as numpy) and ``conversion_source()`` (what ``ct.convert``
takes for it).

Outputs are flattened with ``tf.nest.flatten``: list outputs keep their order, dict outputs
come in sorted-key order. That is the order ``ct.convert`` gives the Core ML outputs of a
Keras model (its output list) and of a concrete function or SavedModel signature (the flattened
structured outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base import SourceError
from . import _imports


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, declared shape (None for unknown dims) and numpy dtype."""

    name: str
    shape: tuple[int | None, ...] | None
    dtype: np.dtype | None


def _shape(value) -> tuple[int | None, ...] | None:
    try:
        dims = list(value)
    except (TypeError, ValueError):  # unknown rank
        return None
    return tuple(None if d is None else int(getattr(d, "value", d) if d is not None else d)
                 for d in dims)


def _dtype(value) -> np.dtype | None:
    if value is None:
        return None
    try:
        return np.dtype(getattr(value, "as_numpy_dtype", value))
    except TypeError:
        return None


def _to_numpy(outputs) -> list[np.ndarray]:
    tf = _imports.tensorflow()
    flat = tf.nest.flatten(outputs)
    out = []
    for item in flat:
        value = item.numpy() if hasattr(item, "numpy") else np.asarray(item)
        out.append(np.asarray(value))
    return out


def _tensor(tf, array: np.ndarray, spec: InputSpec | None):
    if spec is not None and spec.dtype is not None and array.dtype != spec.dtype:
        array = array.astype(spec.dtype)
    elif array.dtype == np.float64:
        array = array.astype(np.float32)
    return tf.convert_to_tensor(array)


# --------------------------------------------------------------------------- Keras models


class KerasRunner:
    """A tf_keras or Keras 3 model, called with ``training=False``.

    ``ct.convert`` takes a tf_keras model as it is; a Keras 3 model (which it does not accept)
    is wrapped into one concrete function whose arguments are named after the model's inputs.
    """

    def __init__(self, model, keras3: bool):
        self.model = model
        self.keras3 = keras3
        self.kind = "Keras 3 model" if keras3 else "tf_keras model"
        self.name = f"{type(model).__name__} {getattr(model, 'name', '?')!r}"

    @property
    def inputs(self) -> list[InputSpec] | None:
        tensors = self._input_tensors()
        if tensors is None:
            return None
        return [InputSpec(_tensor_name(t), _shape(t.shape), _dtype(t.dtype)) for t in tensors]

    def _structure(self):
        try:
            structure = self.model.input
        except (AttributeError, ValueError):
            structure = getattr(self.model, "inputs", None)
        return structure

    def _input_tensors(self) -> list | None:
        structure = self._structure()
        if structure is None:
            return None
        return _imports.tensorflow().nest.flatten(structure)

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        tf = _imports.tensorflow()
        specs = self.inputs
        tensors = [_tensor(tf, a, specs[i] if specs else None) for i, a in enumerate(arrays)]
        structure = self._structure()
        if structure is None or len(tensors) == 1:
            packed = tensors[0] if len(tensors) == 1 else tensors
        else:
            packed = tf.nest.pack_sequence_as(structure, tensors)
        return _to_numpy(self.model(packed, training=False))

    def conversion_source(self, arrays: list[np.ndarray], names: list[str] | None = None) -> Any:
        """The model for ``ct.convert`` (tf_keras, when ``tf.keras`` is tf_keras), else one
        concrete function whose arguments are named ``names`` (the check's input names; by
        default the model's input names)."""
        tf = _imports.tensorflow()
        if not self.keras3 and isinstance(self.model, tf.keras.Model):
            return self.model
        specs = self.inputs or [InputSpec(f"input_{i}", a.shape, a.dtype)
                                for i, a in enumerate(arrays)]
        if names is not None and len(names) == len(specs):
            specs = [InputSpec(n, s.shape, s.dtype) for n, s in zip(names, specs)]
        model, structure = self.model, self._structure()

        def call(*tensors):
            if structure is None or len(tensors) == 1:
                packed = tensors[0] if len(tensors) == 1 else list(tensors)
            else:
                packed = tf.nest.pack_sequence_as(structure, list(tensors))
            return model(packed, training=False)

        signature = [tf.TensorSpec(s.shape, s.dtype or np.float32, name=s.name) for s in specs]
        return [tf.function(call).get_concrete_function(*signature)]


def _tensor_name(tensor) -> str:
    name = getattr(tensor, "name", None) or "input"
    return str(name).split(":")[0]


# --------------------------------------------------------------------------- functions


class FunctionRunner:
    """A concrete function (also a SavedModel signature), called with its own argument
    structure; ``ct.convert`` takes ``[function]``."""

    def __init__(self, function, kind: str = "concrete function", name: str | None = None,
                 conversion: Any = None):
        self.function = function
        self.kind = kind
        self.name = name or repr(getattr(function, "name", "function"))
        self._conversion = conversion
        args, kwargs = function.structured_input_signature
        self._signature = (tuple(args), dict(kwargs))
        tf = _imports.tensorflow()
        names = [s.name or f"arg_{i}" for i, s in enumerate(tf.nest.flatten(self._signature[0]))]
        for key in sorted(kwargs):  # kwargs flatten in sorted-key order
            count = len(tf.nest.flatten(kwargs[key]))
            names += [key] if count == 1 else [f"{key}_{i}" for i in range(count)]
        self._specs = [InputSpec(n, _shape(s.shape), _dtype(s.dtype))
                       for n, s in zip(names, tf.nest.flatten(self._signature))]

    @property
    def inputs(self) -> list[InputSpec]:
        return self._specs

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        tf = _imports.tensorflow()
        tensors = [_tensor(tf, a, s) for a, s in zip(arrays, self._specs)]
        args, kwargs = tf.nest.pack_sequence_as(self._signature, tensors)
        return _to_numpy(self.function(*args, **kwargs))

    def conversion_source(self, arrays: list[np.ndarray]) -> Any:
        return self._conversion if self._conversion is not None else [self.function]


class TracedFunctionRunner:
    """A ``tf.function`` without an input signature: traced with the first feed's shapes."""

    kind = "tf.function"

    def __init__(self, function):
        self.function = function
        self.name = repr(getattr(function, "__name__", None) or "function")
        self._concrete: FunctionRunner | None = None

    @property
    def inputs(self) -> list[InputSpec] | None:
        return self._concrete.inputs if self._concrete else None

    def trace(self, arrays: list[np.ndarray], names: list[str]) -> FunctionRunner:
        if self._concrete is None:
            tf = _imports.tensorflow()
            specs = [tf.TensorSpec(a.shape, np.float32 if a.dtype == np.float64 else a.dtype,
                                   name=n) for a, n in zip(arrays, names)]
            try:
                concrete = self.function.get_concrete_function(*specs)
            except Exception as exc:
                raise SourceError(f"tracing tf.function {self.name} failed: "
                                  f"{type(exc).__name__}: {exc}") from exc
            self._concrete = FunctionRunner(concrete, self.kind, self.name)
        return self._concrete

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if self._concrete is None:
            raise SourceError(f"tf.function {self.name} has not been traced")
        return self._concrete(arrays)

    def conversion_source(self, arrays: list[np.ndarray]) -> Any:
        if self._concrete is None:
            raise SourceError(f"tf.function {self.name} has not been traced")
        return self._concrete.conversion_source(arrays)


# --------------------------------------------------------------------------- dispatch


def runner_for(model, *, path=None):
    """The runner for a model object (already loaded from ``path`` when one was given)."""
    tf = _imports.tensorflow()
    module = type(model).__module__ or ""
    concrete_types = tuple(t for t in (
        getattr(getattr(tf.types, "experimental", None), "ConcreteFunction", None),
    ) if t is not None)
    if concrete_types and isinstance(model, concrete_types):
        return FunctionRunner(model)
    if _is_keras(model, module):
        return KerasRunner(model, keras3=_is_keras3(model, module))
    if hasattr(model, "get_concrete_function") and callable(model):
        if getattr(model, "input_signature", None) is not None:
            concrete = model.get_concrete_function()
            return FunctionRunner(concrete, "tf.function", repr(getattr(model, "__name__", "")))
        return TracedFunctionRunner(model)
    signatures = getattr(model, "signatures", None)
    if signatures is not None and len(signatures):
        key = "serving_default" if "serving_default" in signatures else list(signatures)[0]
        where = f"{path} signature {key!r}" if path else f"SavedModel signature {key!r}"
        # ct.convert takes a SavedModel path only when it holds exactly one signature
        source = str(path) if path is not None and len(signatures) == 1 else None
        return FunctionRunner(signatures[key], "SavedModel", where, source)
    raise SourceError(
        f"unsupported TensorFlow model {module}.{type(model).__name__}; expected a Keras model "
        "(tf_keras or Keras 3), a tf.function or concrete function, a SavedModel directory or "
        "a .h5/.keras file")


def _is_keras(model, module: str) -> bool:
    if module.startswith(("tf_keras", "keras")):
        return True
    return any(c.__module__.startswith(("tf_keras", "keras")) for c in type(model).__mro__)


def _is_keras3(model, module: str) -> bool:
    return any(c.__module__.startswith("keras.") or c.__module__ == "keras"
               for c in type(model).__mro__)
