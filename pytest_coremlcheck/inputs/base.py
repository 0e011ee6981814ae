"""The input-source protocol and the sample type both models are fed from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..coreml.features import Feature


@dataclass
class Sample:
    """One input sample.

    ``coreml`` maps input names to what Core ML receives (numpy arrays or PIL images);
    ``source`` maps the same names to the arrays the source model receives.
    """

    label: str
    coreml: dict[str, Any]
    source: dict[str, np.ndarray] = field(default_factory=dict)


class InputSource(Protocol):
    """Something that can produce samples for a model's input features."""

    def materialize(self, features: list[Feature]) -> list[Sample]: ...

    def describe(self) -> str: ...


def default_preprocess(image) -> np.ndarray:
    """RGB (or grayscale) float32 in [0, 1], NCHW, batch 1: the default source-side input."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        return array[None, None]
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None])


DEFAULT_PREPROCESS_TEXT = "RGB float32 in [0, 1], NCHW, batch 1"
