"""Source models (the framework side of a check): ``as_source`` wraps a framework model in
its ``Source`` (``base.py``: the protocol and its optional capabilities)."""

from __future__ import annotations

from os import PathLike

from .base import Source, SourceError
from .pyref import Lazy


def as_source(model) -> Source:
    """Wrap a framework model; torch and TensorFlow are imported only when used.

    A ``Source`` is returned as it is; a path (``.h5``, ``.keras``, SavedModel directory) is a
    TensorFlow source.
    """
    if isinstance(model, Lazy):  # a source named in text (declared checks, the CLI)
        model = model.resolve()
    if isinstance(model, Source):
        return model
    if isinstance(model, (str, PathLike)):
        return _tensorflow_source(model)
    module = type(model).__module__ or ""
    if module.startswith("torch") or _is_torch_module(model):
        from .torch import TorchSource

        return TorchSource(model)
    if module.startswith(("tensorflow", "keras", "tf_keras")) or _looks_like_tf(model):
        return _tensorflow_source(model)
    raise SourceError(
        f"unsupported source model type {type(model).__module__}.{type(model).__name__}; "
        "expected a torch.nn.Module, torch.jit.ScriptModule or torch.export.ExportedProgram, "
        "a Keras model, a tf.function, or a path to a SavedModel directory or .h5/.keras file"
    )


def _tensorflow_source(model) -> Source:
    try:
        from .tensorflow import TensorFlowSource
    except ImportError as exc:
        raise SourceError(f"TensorFlow sources need the tensorflow extra: {exc}") from None
    return TensorFlowSource(model)


def _is_torch_module(model) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _looks_like_tf(model) -> bool:
    return any(c.__module__.startswith(("tensorflow", "keras", "tf_keras"))
               for c in type(model).__mro__)
