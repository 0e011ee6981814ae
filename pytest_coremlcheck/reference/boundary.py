"""Feature values crossing a pipeline stage boundary, converted the way Core ML converts them.

Inside the executor a feature value travels in *engine form*: multi-arrays as numpy arrays,
images as float32 ``(1, C, H, W)`` arrays of 0–255 pixel values in the feature's colour
order, ``int64``/``double`` as Python numbers, strings and dictionaries as themselves.

Two steps happen at a boundary:

1. :func:`materialise` — a stage's raw output becomes the value its declared output feature
   holds: an array is cast to the declared data type (FLOAT16 rounds), an 8-bit image output is
   clipped to 0–255 and rounded (a pixel buffer holds bytes), a ``GRAYSCALE_FLOAT16`` image is
   rounded to float16.
2. :func:`convert` — that value becomes what the consuming feature (a later stage's input, or
   the pipeline's output) declares: the array is cast to the consumer's data type and its shape
   checked against the consumer's declared (or flexible) shape; an image is re-ordered or
   re-coloured (RGB ↔ BGR, colour → grayscale through an 8-bit image, like ``MLModel`` input
   conversion) and its size checked.

Core ML's pipeline validator requires the producing and consuming features to declare the same
type; :func:`mismatch` says how two declarations differ so the caller can report it.
"""

from __future__ import annotations

import numpy as np

from ..coreml.features import Feature
from ..coreml.image import array_to_image, image_to_array
from .errors import ExecutionError

#: Feature kinds whose values are numbers that convert into each other.
_SCALARS = {"int64": int, "double": float}


def type_text(feature: Feature) -> str:
    """A short name of a feature's declared type: ``float16``, ``image RGB``, ``string``…"""
    if feature.kind == "array":
        return str(feature.dtype)
    if feature.kind == "image":
        return f"image {feature.color}"
    return feature.kind


def mismatch(source: Feature, target: Feature) -> str | None:
    """How ``target``'s declared type differs from ``source``'s, or None when they agree.

    Mirrors Core ML's pipeline type check: same kind; arrays of the same data type and rank and,
    when neither is flexible, the same shape; images of the same size and colour space;
    dictionaries with the same key kind (not checked here: both are passed through).
    """
    if source.kind != target.kind:
        return f"{type_text(source)} vs {type_text(target)}"
    if source.kind == "array":
        problems = []
        if source.dtype != target.dtype:
            problems.append(f"data type {source.dtype} vs {target.dtype}")
        if len(source.shape) != len(target.shape) and source.shape and target.shape:
            problems.append(f"rank {len(source.shape)} vs {len(target.shape)}")
        elif not source.flexible and not target.flexible and source.shape != target.shape:
            problems.append(f"shape {source.shape} vs {target.shape}")
        return ", ".join(problems) or None
    if source.kind == "image":
        problems = []
        if source.color != target.color:
            problems.append(f"colour space {source.color} vs {target.color}")
        if not source.flexible and not target.flexible and source.shape[2:] != target.shape[2:]:
            problems.append(f"size {source.image_size[0]}x{source.image_size[1]} vs "
                            f"{target.image_size[0]}x{target.image_size[1]}")
        return ", ".join(problems) or None
    return None


def convertible(source: Feature, target: Feature) -> bool:
    """Whether a value of ``source``'s kind can be handed to a ``target`` feature at all."""
    if source.kind == target.kind:
        return True
    return source.kind in _SCALARS and target.kind in _SCALARS


def materialise(value, feature: Feature, where: str):
    """A stage's raw output as the value its declared output ``feature`` holds (engine form)."""
    if feature.kind == "array":
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ExecutionError(f"{where}: expected a numeric array, got {array.dtype}")
        return _cast(array, feature.dtype)
    if feature.kind == "image":
        array = np.asarray(value, dtype=np.float32)
        if array.ndim == 3:
            array = array[None]
        if feature.color == "GRAYSCALE_FLOAT16":
            return array.astype(np.float16).astype(np.float32)
        return np.clip(np.rint(array), 0, 255).astype(np.float32)
    if feature.kind in _SCALARS:
        return _scalar(value, feature.kind, where)
    return value


def convert(value, source: Feature, target: Feature, where: str):
    """A value of ``source`` (engine form) as the ``target`` feature declares it.

    ``where`` names the consumer (stage and feature) in errors.
    """
    if not convertible(source, target):
        raise ExecutionError(f"{where}: cannot pass a {type_text(source)} value to a "
                             f"{type_text(target)} feature")
    if target.kind == "array":
        array = _cast(np.asarray(value), target.dtype)
        if not target.accepts_shape(array.shape):
            raise ExecutionError(f"{where}: the value has shape {tuple(array.shape)}, the feature "
                                 f"declares {target.expected_shape_text()}")
        return array
    if target.kind == "image":
        return _convert_image(np.asarray(value, dtype=np.float32), source, target, where)
    if target.kind in _SCALARS:
        return _scalar(value, target.kind, where)
    return value


def to_predict_form(value, feature: Feature):
    """An engine-form value as ``MLModel.predict`` returns it (PIL image for an image)."""
    if feature.kind == "image":
        return array_to_image(value, feature.color)
    return value


def _cast(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` as ``dtype``; values beyond float16's range become ±inf, as in Core ML."""
    with np.errstate(over="ignore", invalid="ignore"):
        return array.astype(dtype, copy=False)


def _convert_image(array: np.ndarray, source: Feature, target: Feature, where: str):
    if source.color == target.color:
        converted = array
    elif {source.color, target.color} == {"RGB", "BGR"}:
        converted = np.ascontiguousarray(array[:, ::-1])
    else:
        image = array_to_image(array, source.color)
        converted = image_to_array(image, target.color, None, where)
        if target.color == "GRAYSCALE_FLOAT16":
            converted = converted.astype(np.float16).astype(np.float32)
    if not target.accepts_shape(converted.shape):
        height, width = converted.shape[2], converted.shape[3]
        raise ExecutionError(f"{where}: the image is {width}x{height}, the feature declares "
                             f"{target.expected_shape_text()}")
    return converted


def _scalar(value, kind: str, where: str):
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "biuf":
        raise ExecutionError(f"{where}: expected one {kind} number, got {array.size} value(s) "
                             f"of {array.dtype}")
    return _SCALARS[kind](array.reshape(-1)[0])
