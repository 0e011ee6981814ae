"""Loading TensorFlow models from disk: SavedModel directories, ``.h5`` and ``.keras`` files.

Keras files are read safely: their architecture (``model_config`` in an ``.h5``, ``config.json``
in a ``.keras`` zip) is inspected before any Keras code runs, and a file holding ``Lambda``
layers (Python code) is refused unless the caller opts in with
``allow_unsafe_deserialization=True``. tf_keras would otherwise run an ``.h5`` file's marshalled
Lambda bytecode without asking. A file that needs custom layer classes fails with a message
naming the file, the layer and its class.

Which Keras loads a file is decided by the Keras version that wrote it (``keras_version`` in
the file): 2.x → tf_keras, 3.x → Keras 3.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import SourceError
from . import _imports

KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


@dataclass
class LoadedFile:
    """A model read from ``path``: the object, what it is, and the Keras that wrote it."""

    model: Any
    path: Path
    kind: str  # "savedmodel", "h5", "keras"
    keras_version: str = ""


def is_tensorflow_path(path) -> bool:
    """A Keras file (``.h5``, ``.hdf5``, ``.keras``) or a SavedModel directory."""
    path = Path(path)
    return path.suffix.lower() in KERAS_SUFFIXES or (path / "saved_model.pb").is_file() or (
        path / "saved_model.pbtxt").is_file()


def load(path, *, allow_unsafe_deserialization: bool = False,
         custom_objects: dict[str, Any] | None = None) -> LoadedFile:
    """Load a SavedModel directory or a Keras file; errors name the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or directory")
    if path.is_dir():
        if not is_tensorflow_path(path):
            raise SourceError(f"{path}: not a SavedModel directory (no saved_model.pb)")
        return _load_saved_model(path)
    suffix = path.suffix.lower()
    if suffix not in KERAS_SUFFIXES:
        raise SourceError(f"{path}: unsupported source file; expected a .h5, .hdf5 or .keras "
                          "Keras file or a SavedModel directory")
    config, version = read_keras_config(path)
    lambdas = [name for name, cls, _ in iter_layers(config) if cls == "Lambda"]
    if lambdas and not allow_unsafe_deserialization:
        raise SourceError(
            f"{path}: refusing to load Lambda layer(s) {', '.join(repr(n) for n in lambdas)}: "
            "loading them runs Python code stored in the file. If you trust the file, pass "
            "TensorFlowSource(path, allow_unsafe_deserialization=True)")
    loader = _load_keras3 if version.startswith("3") else _load_tf_keras
    model = loader(path, config, allow_unsafe_deserialization, custom_objects or {})
    return LoadedFile(model, path, "keras" if suffix == ".keras" else "h5", version)


# --------------------------------------------------------------------------- Keras files


def read_keras_config(path: Path) -> tuple[dict, str]:
    """(architecture config, keras_version) of a Keras file, without running Keras."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                names = set(archive.namelist())
                meta = json.loads(archive.read("metadata.json")) if "metadata.json" in names \
                    else {}
            return config, str(meta.get("keras_version", ""))
        import h5py

        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            version = handle.attrs.get("keras_version", "")
        if raw is None:
            raise SourceError(f"{path}: holds weights only (no model_config); save the whole "
                              "model with model.save()")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        version = version.decode() if isinstance(version, bytes) else str(version)
        return json.loads(text), version
    except SourceError:
        raise
    except ImportError as exc:
        raise SourceError(f"{path}: reading .h5 files needs h5py: {_imports.INSTALL_HINT} "
                          f"({exc})") from None
    except Exception as exc:
        raise SourceError(f"{path}: not a readable Keras file ({type(exc).__name__}: "
                          f"{exc})") from None


_LAYER_KEYS = ("layer", "forward_layer", "backward_layer", "cell")


def iter_layers(config: Any) -> Iterator[tuple[str, str, dict]]:
    """(layer name, class name, layer config) of every layer, nested models and wrapped
    layers (``Bidirectional``, ``TimeDistributed``, RNN cells) included."""
    if not isinstance(config, dict):
        return
    inner = config.get("config")
    if "class_name" in config and isinstance(inner, dict):
        yield str(inner.get("name", "")), str(config["class_name"]), config
        children = list(inner.get("layers") or []) if isinstance(inner.get("layers"), list) \
            else []
        children += [inner[key] for key in _LAYER_KEYS if isinstance(inner.get(key), dict)]
        for child in children:
            yield from iter_layers(child)


def unknown_layers(config: dict, layers_module, custom_objects: dict) -> list[tuple[str, str]]:
    """(layer name, class name) of layers that are neither built into ``layers_module`` nor
    given in ``custom_objects``."""
    known = set(dir(layers_module)) | {"Functional", "Sequential", "Model"} | set(custom_objects)
    return [(name, cls) for name, cls, _ in iter_layers(config) if cls not in known]


_UNKNOWN = (
    re.compile(r"Unknown (?:layer|object|class|activation|loss|metric|initializer|regularizer|"
               r"constraint)\w*:\s*'?([\w.>]+)'?"),
    re.compile(r"Cannot deserialize object of type `([\w.]+)`"),
    re.compile(r"Could not locate (?:class|function) '([\w.]+)'"),
)


def unknown_class(message: str) -> str | None:
    """The class or function name a Keras "unknown object" error is about, if it is one."""
    for pattern in _UNKNOWN:
        match = pattern.search(message)
        if match:
            return match.group(1).rsplit(".", 1)[-1]
    return None


def _needs_custom_objects(path: Path, config: dict, exc: Exception, layers_module,
                          custom_objects: dict) -> SourceError | None:
    unknown = unknown_layers(config, layers_module, custom_objects)
    if unknown:
        names = ", ".join(repr(n) for n, _ in unknown)
        classes = sorted({c for _, c in unknown})
        where = f"layer(s) {names} (class {', '.join(classes)})"
        first = classes[0]
    else:
        first = unknown_class(str(exc))
        if first is None:
            return None
        where = f"object {first!r}"
    return SourceError(
        f"{path}: {where} needs custom objects to load; pass TensorFlowSource(path, "
        f"custom_objects={{{first!r}: ...}}) or register the class with Keras")


def _load_tf_keras(path: Path, config: dict, unsafe: bool, custom_objects: dict):
    tf_keras = _imports.tf_keras()
    kwargs: dict[str, Any] = {"compile": False, "custom_objects": custom_objects}
    if path.suffix.lower() == ".keras":
        kwargs["safe_mode"] = not unsafe
    try:
        return tf_keras.models.load_model(str(path), **kwargs)
    except Exception as exc:
        error = _needs_custom_objects(path, config, exc, tf_keras.layers, custom_objects)
        raise error or SourceError(f"{path}: tf_keras could not load the model: "
                                   f"{type(exc).__name__}: {_first_line(exc)}") from exc


def _load_keras3(path: Path, config: dict, unsafe: bool, custom_objects: dict):
    keras = _imports.keras3()
    try:
        return keras.models.load_model(str(path), compile=False, safe_mode=not unsafe,
                                       custom_objects=custom_objects)
    except Exception as exc:
        error = _needs_custom_objects(path, config, exc, keras.layers, custom_objects)
        raise error or SourceError(f"{path}: Keras 3 could not load the model: "
                                   f"{type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "(no message)"


# --------------------------------------------------------------------------- SavedModel


def _load_saved_model(path: Path) -> LoadedFile:
    tf = _imports.tensorflow()
    try:
        model = tf.saved_model.load(str(path))
    except Exception as exc:
        raise SourceError(f"{path}: tf.saved_model.load failed: {type(exc).__name__}: "
                          f"{_first_line(exc)}") from exc
    return LoadedFile(model, path, "savedmodel")
