"""Errors the reference executor raises; every message names the model and the part."""

from __future__ import annotations


class ReferenceError_(Exception):  # noqa: N801 - avoid shadowing the builtin ReferenceError
    """Base class of the executor's errors."""


class ModelLoadError(ReferenceError_):
    """The model file or spec cannot be read or is not a model the executor runs."""


class UnsupportedOpError(ReferenceError_):
    """An op (or op version, dtype) the executor does not implement."""


class InputError(ReferenceError_, ValueError):
    """A prediction input is missing, unknown, or of the wrong shape or type."""


class ExecutionError(ReferenceError_):
    """An op failed while running; the message names the op, its type and the model."""
