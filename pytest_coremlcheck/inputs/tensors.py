"""Seeded random tensors shaped and typed from the model's input description."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..reference.features import Feature
from .base import DEFAULT_PREPROCESS_TEXT, Sample, default_preprocess


@dataclass(frozen=True)
class tensors:  # noqa: N801 - public API reads as a function call
    """``n`` seeded random samples; floats uniform in [low, high), ints in [low, high).

    Image inputs get random 8-bit images of the model's size; the source receives them
    through the default preprocess (RGB float32 in [0, 1], NCHW).
    """

    n: int = 8
    seed: int = 0
    low: float = 0.0
    high: float = 1.0

    def materialize(self, features: list[Feature]) -> list[Sample]:
        if self.n < 1:
            raise ValueError(f"tensors(n={self.n}): need at least one sample")
        rng = np.random.default_rng(self.seed)
        samples = []
        for index in range(self.n):
            coreml, source = {}, {}
            for feature in features:
                coreml[feature.name], source[feature.name] = _random_value(feature, rng, self)
            samples.append(Sample(f"random #{index}", coreml, source))
        return samples

    def describe(self) -> str:
        return (f"tensors(n={self.n}, seed={self.seed}, low={self.low:g}, high={self.high:g}); "
                f"images via {DEFAULT_PREPROCESS_TEXT}")


def _random_value(feature: Feature, rng: np.random.Generator, spec: tensors):
    if feature.kind == "image":
        _, channels, height, width = feature.shape
        pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
        return image, default_preprocess(image)
    if feature.kind != "array":
        raise ValueError(f"input {feature.name!r}: cannot generate random values for "
                         f"{feature.kind} inputs; pass inputs={{...}} explicitly")
    dtype = feature.dtype or np.dtype(np.float32)
    if dtype.kind in "iu":
        low, high = int(spec.low), int(spec.high)
        if high <= low:
            high = low + 1
        array = rng.integers(low, high, size=feature.shape).astype(dtype)
        return array, array
    array = rng.uniform(spec.low, spec.high, size=feature.shape).astype(dtype)
    return array, array.astype(np.float32)
