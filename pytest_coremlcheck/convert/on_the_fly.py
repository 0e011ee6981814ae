"""Convert a source model with ``ct.convert`` when a check is given no converted model."""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..coreml.features import Feature
from ..errors import CheckError
from ..sources import Source, SourceError


def declared_features(convert: dict[str, Any] | None) -> list[Feature] | None:
    """Input features from the ``ct.TensorType``/``ct.ImageType`` list in ``convert``,
    including their flexible shapes (``ct.RangeDim``, ``ct.EnumeratedShapes``)."""
    import coremltools as ct

    ct_inputs = (convert or {}).get("inputs")
    if not ct_inputs:
        return None
    features = []
    for index, item in enumerate(ct_inputs):
        name = item.name or f"input_{index}"
        shape, shapes, ranges = _shape_info(item.shape)
        if isinstance(item, ct.ImageType):
            color = getattr(item.color_layout, "name", str(item.color_layout)).upper()
            color = color.replace("COLORLAYOUT.", "")
            channels = 1 if color.startswith("G") else 3
            axes = _spatial_axes(item, shape, channels)
            shape = (1, channels) + tuple(shape[i] for i in axes)
            shapes = [(1, channels) + tuple(s[i] for i in axes) for s in shapes]
            if ranges is not None:
                ranges = [(1, 1), (channels, channels)] + [ranges[i] for i in axes]
            features.append(Feature(name, "image", shape, np.dtype(np.float32), color=color,
                                    shapes=shapes, ranges=ranges))
        else:
            features.append(Feature(name, "array", shape, _numpy_dtype(item.dtype),
                                    shapes=shapes, ranges=ranges))
    return features


def _spatial_axes(item, shape: tuple[int, ...], channels: int) -> tuple[int, int]:
    """The (height, width) axes of an ImageType shape: NCHW, or NHWC (TensorFlow's layout)
    when ``channel_first`` is False, or is unset and the shape ends with the channel count
    without starting with it."""
    channel_last = item.channel_first is False or (
        item.channel_first is None and len(shape) == 4 and shape[-1] == channels
        and shape[1] != channels)
    return (-3, -2) if channel_last else (-2, -1)


def _shape_info(shape) -> tuple[tuple[int, ...], list, list | None]:
    """(default shape, enumerated shapes, per-axis (low, high) ranges or None)."""
    import coremltools as ct

    if shape is None:
        raise CheckError("convert inputs need a shape to generate inputs from")
    if isinstance(shape, ct.EnumeratedShapes):
        shapes = [tuple(int(d) for d in s.shape) for s in shape.shapes]
        return tuple(int(d) for d in shape.default), shapes, None
    dims = shape.shape if isinstance(shape, ct.Shape) else shape
    if not any(isinstance(d, ct.RangeDim) for d in dims):
        return tuple(int(d) for d in dims), [], None
    default = tuple(int(shape.default[i]) for i in range(len(dims)))
    ranges = [(d.lower_bound, d.upper_bound) if isinstance(d, ct.RangeDim) else (int(d), int(d))
              for d in dims]
    return default, [], ranges


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


def conversion_features(convert: dict[str, Any] | None, input_source) -> list[Feature] | None:
    """The inputs of a model still to convert: the ``ct.*Type`` list in ``convert``, else the
    arrays of the first explicit feed (a dict) of ``input_source``; None when neither."""
    features = declared_features(convert)
    if features is not None:
        return features
    data = getattr(input_source, "data", None)
    first = data[0] if isinstance(data, (list, tuple)) else data
    if not isinstance(first, dict):
        return None
    return features_from_feed({k: np.asarray(v) for k, v in first.items()})


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
    can_export = source.can_export
    try:
        return _quiet_convert(source.conversion_source(feed, order), kwargs)
    except Exception as first:
        why = str(first) if isinstance(first, SourceError) else \
            f"ct.convert failed: {type(first).__name__}: {first}"
        if not can_export:
            raise CheckError(f"{why}{numpy_hint(first)}") from first
        try:
            model = _quiet_convert(source.export(feed, order), fresh_kwargs)
        except Exception as second:
            raise CheckError(
                f"{why}; the torch.export fallback failed too: {type(second).__name__}: "
                f"{second}{numpy_hint(first, second)}") from second
        if notes is not None:
            notes.append(f"{why.splitlines()[0][:160]}; converted via torch.export")
        return model


#: numpy releases with which coremltools 9.0's torch converter fails on real architectures
#: (``_cast`` calls ``float()`` on a 1-element array, which numpy 2.4 refuses).
_NUMPY_SCALAR_ERROR = "only 0-dimensional arrays can be converted to Python scalars"


def numpy_hint(*errors: BaseException) -> str:
    """A sentence naming the fix when a conversion failed with numpy 2.4's scalar-conversion
    error under coremltools < 9.1 (empty otherwise)."""
    import coremltools as ct
    from packaging.version import Version

    if not any(_NUMPY_SCALAR_ERROR in str(e) for e in errors):
        return ""
    if Version(np.__version__) < Version("2.4") or Version(ct.__version__) >= Version("9.1"):
        return ""
    return (f". numpy {np.__version__} breaks coremltools {ct.__version__}'s torch converter "
            "here; install numpy<2.4 (pip install 'numpy<2.4')")


def _quiet_convert(model, kwargs):
    """``ct.convert`` with its warnings, progress bars and error log records held back."""
    import coremltools as ct

    with quiet():
        return ct.convert(model, skip_model_load=True, **kwargs)


@contextmanager
def quiet():
    """Hold back coremltools' warnings, log records and tqdm progress bars (errors still raise).

    tqdm reads ``TQDM_DISABLE`` only when it is first imported, so the bars, which go to
    ``sys.stderr``, are caught by redirecting it for the conversion.
    """
    import io
    import logging
    import os
    from contextlib import redirect_stderr

    logger = logging.getLogger("coremltools")
    level, bars = logger.level, os.environ.get("TQDM_DISABLE")
    logger.setLevel(logging.CRITICAL)
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        if bars is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = bars
