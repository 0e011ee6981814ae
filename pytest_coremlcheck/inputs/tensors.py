"""Seeded random tensors shaped and typed from the model's input description."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..coreml.features import Feature
from .base import DEFAULT_PREPROCESS_TEXT, Sample, default_preprocess
from .limits import check_count, check_sample_size


class NoRandomValueError(ValueError):
    """An input random values cannot be generated for (a string, double, dictionary…).

    ``feature`` is the input; the message tells an API or pytest user to pass ``inputs={...}``;
    the command line words it with ``--inputs`` (``cli_message``).
    """

    def __init__(self, feature: Feature):
        self.feature = feature
        super().__init__(f"input {feature.name!r}: cannot generate random values for "
                         f"{feature.kind} inputs; pass inputs={{{feature.name!r}: ...}} "
                         "explicitly")

    def cli_message(self, flag: str = "--inputs") -> str:
        """The same error for the command line: pass an .npz holding the input."""
        return (f"input {self.feature.name!r}: cannot generate random values for "
                f"{self.feature.kind} inputs; pass {flag} x.npz holding an array named "
                f"{self.feature.name!r}")


@dataclass(frozen=True)
class tensors:  # noqa: N801 - public API reads as a function call
    """``n`` seeded random samples; floats uniform in [low, high), ints in [low, high).

    Image inputs get random 8-bit images of the model's size; the source receives them
    through the default preprocess (RGB float32 in [0, 1], NCHW). ``n`` is at most 10,000 and
    one sample at most ``max_sample_bytes`` (default 2 GiB, see ``inputs.limits``); both are
    checked before anything is allocated.
    """

    n: int = 8
    seed: int = 0
    low: float = 0.0
    high: float = 1.0
    max_sample_bytes: int | None = None
    #: whether the last materialised model had image inputs (``describe`` names their preprocess)
    _images: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self):
        check_count(self.n, f"tensors(n={self.n})")

    def materialize(self, features: list[Feature]) -> list[Sample]:
        for feature in features:
            if feature.kind not in ("image", "array"):
                raise NoRandomValueError(feature)
        check_sample_size(features, f"tensors(n={self.n})", self.max_sample_bytes)
        object.__setattr__(self, "_images", any(f.kind == "image" for f in features))
        rng = np.random.default_rng(self.seed)
        samples = []
        for index in range(self.n):
            coreml, source = {}, {}
            for feature in features:
                coreml[feature.name], source[feature.name] = _random_value(feature, rng, self)
            samples.append(Sample(f"random #{index}", coreml, source))
        return samples

    def describe(self) -> str:
        text = f"tensors(n={self.n}, seed={self.seed}, low={self.low:g}, high={self.high:g})"
        return f"{text}; images via {DEFAULT_PREPROCESS_TEXT}" if self._images else text


def _random_value(feature: Feature, rng: np.random.Generator, spec: tensors):
    if feature.kind == "image":
        _, channels, height, width = feature.shape
        pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
        return image, default_preprocess(image)
    dtype = feature.dtype or np.dtype(np.float32)
    if dtype.kind in "iu":
        low, high = int(spec.low), int(spec.high)
        if high <= low:
            high = low + 1
        array = rng.integers(low, high, size=feature.shape).astype(dtype)
        return array, array
    array = rng.uniform(spec.low, spec.high, size=feature.shape).astype(dtype)
    return array, array.astype(np.float32)
