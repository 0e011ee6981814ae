"""Convert a source model with ``ct.convert`` when a check is given no converted model."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np

from ..reference.features import Feature
from ..result import CheckError
from ..sources import Source


def declared_features(convert: dict[str, Any] | None) -> list[Feature] | None:
    """Input features from the ``ct.TensorType``/``ct.ImageType`` list in ``convert``."""
    import coremltools as ct

    ct_inputs = (convert or {}).get("inputs")
    if not ct_inputs:
        return None
    features = []
    for index, item in enumerate(ct_inputs):
        name = item.name or f"input_{index}"
        shape = _default_shape(item.shape)
        if isinstance(item, ct.ImageType):
            color = getattr(item.color_layout, "name", str(item.color_layout)).upper()
            color = color.replace("COLORLAYOUT.", "")
            channels = 1 if color.startswith("G") else 3
            height, width = shape[-2], shape[-1]
            features.append(Feature(name, "image", (1, channels, height, width),
                                    np.dtype(np.float32), color=color))
        else:
            features.append(Feature(name, "array", shape, _numpy_dtype(item.dtype)))
    return features


def _numpy_dtype(dtype) -> np.dtype:
    """A ct.TensorType dtype (a MIL type or a numpy type, or None) as a numpy dtype."""
    from coremltools.converters.mil.mil import types

    if dtype is None:
        return np.dtype(np.float32)
    if isinstance(dtype, type) and types.is_builtin(dtype):
        return np.dtype(types.nptype_from_builtin(dtype))
    return np.dtype(dtype)


def features_from_feed(feed: dict[str, np.ndarray]) -> list[Feature]:
    """Array features named and shaped after an explicit feed."""
    return [Feature(name, "array", tuple(np.shape(v)), np.asarray(v).dtype)
            for name, v in feed.items()]


def _default_shape(shape) -> tuple[int, ...]:
    if shape is None:
        raise CheckError("convert inputs need a shape to generate inputs from")
    if hasattr(shape, "default"):
        return tuple(int(d) for d in shape.default)
    if hasattr(shape, "shape"):
        dims = shape.shape
        return tuple(int(getattr(d, "val", None) or getattr(d, "lower_bound", 1) or 1)
                     if not isinstance(d, (int, np.integer)) else int(d) for d in dims)
    return tuple(int(d) for d in shape)


def convert_source(source: Source, convert: dict[str, Any] | None, feed: dict[str, np.ndarray],
                   order: list[str], notes: list[str] | None = None):
    """``ct.convert`` the source, traced with ``feed``; falls back to ``torch.export``.

    A fresh deep copy of ``convert`` is used for every conversion, because ``ct.convert``
    mutates the ``ct.*Type`` objects it is given. When the fallback is taken, why is appended
    to ``notes``.
    """
    import coremltools as ct

    kwargs = copy.deepcopy(convert or {})
    if "inputs" not in kwargs:
        kwargs["inputs"] = [ct.TensorType(name=name, shape=np.shape(feed[name]),
                                          dtype=np.asarray(feed[name]).dtype.type)
                            for name in order]
    kwargs.setdefault("convert_to", "mlprogram")
    fresh_kwargs = copy.deepcopy(kwargs)
    traced = source.conversion_source(feed, order)
    try:
        return _quiet_convert(traced, kwargs)
    except Exception as first:
        if not hasattr(source, "export") or getattr(source, "exported", True):
            raise CheckError(f"ct.convert failed: {type(first).__name__}: {first}") from first
        try:
            model = _quiet_convert(source.export(feed, order), fresh_kwargs)
        except Exception as second:
            raise CheckError(
                f"ct.convert failed on the TorchScript trace ({type(first).__name__}: {first}) "
                f"and on torch.export ({type(second).__name__}: {second})"
            ) from second
        if notes is not None:
            notes.append(f"TorchScript conversion failed ({type(first).__name__}: "
                         f"{str(first).splitlines()[0][:120]}); converted via torch.export")
        return model


def _quiet_convert(model, kwargs):
    """``ct.convert`` with its warnings and error log records held back (errors still raise)."""
    import logging

    import coremltools as ct

    logger = logging.getLogger("coremltools")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ct.convert(model, skip_model_load=True, **kwargs)
    finally:
        logger.setLevel(level)
