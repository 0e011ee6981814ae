"""Explicit feeds: a dict of arrays, a list of dicts, or an ``.npz`` file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..coreml.features import Feature
from .base import Sample, default_preprocess


@dataclass(frozen=True)
class feeds:  # noqa: N801 - public API reads as a function call
    """Samples given by the user: ``{name: array}``, ``[{name: array}, ...]`` or ``path.npz``.

    An ``.npz`` holds one sample, or several when every array has a leading sample axis and
    the file has a ``__samples__`` entry (or keys ``name/0``, ``name/1``…).
    Image inputs accept a PIL image or an (H, W, C) uint8 array.
    """

    data: Any

    def materialize(self, features: list[Feature]) -> list[Sample]:
        dicts = _as_dicts(self.data)
        known = {f.name: f for f in features}
        samples = []
        for index, values in enumerate(dicts):
            unknown = sorted(set(values) - set(known))
            if unknown:
                raise ValueError(f"sample {index}: unknown input name(s) {', '.join(unknown)}; "
                                 f"the model's inputs are {', '.join(known) or '(none)'}")
            missing = [f.name for f in features if f.name not in values and not f.optional]
            if missing:
                raise ValueError(f"sample {index}: missing input(s) {', '.join(missing)}")
            coreml, source = {}, {}
            for name, value in values.items():
                coreml[name], source[name] = _split(known[name], value)
            samples.append(Sample(f"sample #{index}", coreml, source))
        return samples

    def describe(self) -> str:
        if isinstance(self.data, (str, Path)):
            return f"feeds from {self.data}"
        count = len(self.data) if isinstance(self.data, (list, tuple)) else 1
        return f"{count} explicit sample(s)"


def _as_dicts(data) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        return [data]
    if isinstance(data, (list, tuple)):
        if not data or not all(isinstance(d, dict) for d in data):
            raise ValueError("inputs list must be a non-empty list of {input_name: array} dicts")
        return list(data)
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"inputs file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"inputs file {path} is not a regular file (a FIFO, device or "
                         "directory); expected an .npz file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise ValueError(f"inputs file {path}: not a readable .npz ({exc})") from None
    if not arrays:
        raise ValueError(f"inputs file {path}: holds no arrays")
    grouped: dict[int, dict[str, np.ndarray]] = {}
    plain = {}
    for key, value in arrays.items():
        name, sep, index = key.rpartition("/")
        if sep and index.isdigit():
            grouped.setdefault(int(index), {})[name] = value
        else:
            plain[key] = value
    if grouped:
        return [grouped[i] for i in sorted(grouped)]
    return [plain]


def _split(feature: Feature, value):
    """(what Core ML receives, what the source receives) for one input value."""
    if feature.kind == "image":
        image = value if isinstance(value, Image.Image) else Image.fromarray(np.asarray(value))
        return image, default_preprocess(image)
    array = np.asarray(value)
    if feature.kind == "array" and not feature.accepts_shape(array.shape):
        raise ValueError(f"input {feature.name!r}: shape {tuple(array.shape)} does not match the "
                         f"model's {feature.expected_shape_text()}")
    if feature.kind == "array" and feature.dtype is not None:
        if array.dtype.kind == "f" and feature.dtype.kind in "iu":
            raise ValueError(f"input {feature.name!r}: got float values, the model expects "
                             f"{feature.dtype}")
        coreml = array.astype(feature.dtype, copy=False)
        return coreml, array
    return array, array
