"""``TensorFlowSource``: a TensorFlow / Keras model as the source side of a check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..base import Source, SourceError
from . import _imports, callables, files, fingerprint, float64, layout


class TensorFlowSource(Source):
    """Runs a TensorFlow model on numpy feeds keyed by the Core ML input names.

    ``model`` is a tf_keras model, a Keras 3 model, a ``tf.function`` or concrete function, or a
    path: a SavedModel directory (its ``serving_default`` signature), an ``.h5``/``.hdf5`` or a
    ``.keras`` file. Keras files holding ``Lambda`` layers (Python code) load only with
    ``allow_unsafe_deserialization=True``; ``custom_objects`` maps class names to the custom
    layer classes a file needs.

    Feeds are matched to the model's inputs by name (a single input also by position). 4-D
    feeds follow the rules in ``layout``: NCHW image arrays become NHWC for NHWC models, and a
    source output is moved to NCHW when the Core ML output is channel-first. Every transpose is
    listed in ``layout_notes`` and in ``describe()``.
    """

    framework = "tensorflow"

    def __init__(self, model, *, allow_unsafe_deserialization: bool = False,
                 custom_objects: dict[str, Any] | None = None):
        self._tf = _imports.tensorflow()
        self.path: Path | None = None
        self.file_kind = ""
        if isinstance(model, (str, Path)):
            loaded = files.load(model, allow_unsafe_deserialization=allow_unsafe_deserialization,
                                custom_objects=custom_objects)
            self.path, self.file_kind, model = loaded.path, loaded.kind, loaded.model
        self.model = model
        self.runner = callables.runner_for(model, path=self.path)
        self._custom_objects = custom_objects
        self._float64: callables.KerasRunner | None = None  # built when the floor is measured
        self._notes: list[str] = []
        self._feed_names: list[str] | None = None

    # ------------------------------------------------------------------ protocol

    @property
    def framework_model(self) -> Any:
        """The model the hooks of conversion localisation attach to."""
        return self.model

    def describe(self) -> str:
        text = f"tensorflow {self._tf.__version__} {self.runner.kind} {self.runner.name}"
        if self.path is not None and self.file_kind != "savedmodel":
            text += f" from {self.path}"
        moved = sorted({m.group(1) for note in self._notes
                        if (m := re.match(r"input '([^']*)': NCHW", note))})
        if moved:
            text += f" (inputs NCHW→NHWC: {', '.join(moved)})"
        return text

    @property
    def layout_notes(self) -> list[str]:
        """One line per input or output the source transposed, for the check's result."""
        return list(self._notes)

    def run(self, feed: dict[str, np.ndarray], order: list[str]) -> list[np.ndarray]:
        arrays = self.model_inputs(feed, order)
        try:
            return self.runner(arrays)
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"{self.runner.kind} {self.runner.name} raised "
                              f"{type(exc).__name__}: {_first_line(exc)}{self._expected()}"
                              ) from exc

    def run_float64(self, feed: dict[str, np.ndarray], order: list[str]) -> list[np.ndarray]:
        """The outputs of a float64 copy of a Keras model (``float64``); SourceError for
        tf.functions and SavedModel signatures, which run in the dtypes they were traced with."""
        if not isinstance(self.runner, callables.KerasRunner):
            raise SourceError(f"a {self.runner.kind} runs in the dtypes it was traced with; "
                              "only Keras models are rebuilt in float64")
        arrays = self.model_inputs(feed, order)
        if self._float64 is None:
            self._float64 = float64.float64_runner(self.runner, self._custom_objects, arrays)
        return float64.run_float64(self._float64, arrays)

    def conversion_source(self, feed: dict[str, np.ndarray], order: list[str]) -> Any:
        """What ``ct.convert`` takes: the tf_keras model, the SavedModel path (one signature)
        or ``[concrete function]`` (Keras 3 models, tf.functions, other signatures)."""
        arrays = self.model_inputs(feed, order)
        if isinstance(self.runner, callables.KerasRunner):
            return self.runner.conversion_source(arrays, self._feed_names)
        return self.runner.conversion_source(arrays)

    def input_features(self) -> list | None:
        """The model's declared inputs as array features, batch 1 where the batch dim is
        unknown; None unless every other dim is known (then ``convert={'inputs': ...}`` or a
        feed must say)."""
        from ...coreml.features import Feature

        specs = self.runner.inputs
        if not specs or any(not s.shape or None in s.shape[1:] for s in specs):
            return None
        return [Feature(s.name, "array", (s.shape[0] or 1, *s.shape[1:]),
                        s.dtype or np.dtype(np.float32)) for s in specs]

    def align_output(self, name: str, source: np.ndarray, converted: np.ndarray) -> np.ndarray:
        """``source`` in the layout of the Core ML output ``converted`` (see ``layout``)."""
        moved, note = layout.to_coreml_layout(source, np.shape(converted), name)
        self._note(note)
        return moved

    def fingerprint(self, feed=None, order=None) -> list | None:
        """Conversion-cache key parts (the feed plays no part) of a Keras model or a
        tf.function; None for a SavedModel signature, whose conversions are not cached."""
        if isinstance(self.runner, callables.KerasRunner):
            return fingerprint.keras_parts(self.runner.model)
        if isinstance(self.runner, callables.FunctionRunner):
            return fingerprint.function_parts(self.runner.function)
        return None

    # ------------------------------------------------------------------ inputs

    def model_inputs(self, feed: dict[str, np.ndarray], order: list[str]) -> list[np.ndarray]:
        """The feed as the model's flat input list, each array in the model's layout."""
        names = [n for n in order if n in feed] + [n for n in feed if n not in order]
        if isinstance(self.runner, callables.TracedFunctionRunner):
            self.runner.trace([np.asarray(feed[n]) for n in names], names)
        specs = self.runner.inputs
        if specs is None:
            self._feed_names = names
            return [np.asarray(feed[n]) for n in names]
        matched = _match_names([s.name for s in specs], names, self.runner)
        self._feed_names = matched
        arrays = []
        for spec, feed_name in zip(specs, matched):
            array, note = layout.to_model_layout(np.asarray(feed[feed_name]), spec.shape,
                                                 spec.name)
            self._note(note)
            arrays.append(array)
        return arrays

    def _expected(self) -> str:
        specs = self.runner.inputs
        if not specs:
            return ""
        text = ", ".join(f"{s.name} {_shape_text(s.shape)}" for s in specs)
        return f" (model inputs: {text})"

    def _note(self, note: str | None) -> None:
        if note and note not in self._notes:
            self._notes.append(note)


def _match_names(wanted: list[str], given: list[str], runner) -> list[str]:
    """For each model input, the feed name that supplies it (by name, sanitised name or,
    for a single input, position)."""
    lookup = {n: n for n in given}
    lookup.update({_sanitise(n): n for n in given if _sanitise(n) not in lookup})
    out, missing = [], []
    for name in wanted:
        found = lookup.get(name) or lookup.get(_sanitise(name))
        if found is None:
            missing.append(name)
        out.append(found)
    if missing:
        if len(wanted) == 1 and len(given) == 1:
            return given
        raise SourceError(f"{runner.kind} {runner.name}: no feed for input(s) "
                          f"{', '.join(repr(n) for n in missing)}; the feed has "
                          f"{', '.join(repr(n) for n in given) or '(nothing)'}")
    return out


def _sanitise(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name.split(":")[0])


def _shape_text(shape) -> str:
    if shape is None:
        return "(unknown rank)"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "(no message)"
