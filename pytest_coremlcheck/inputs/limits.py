"""Bounds on generated inputs, checked before anything is allocated.

- at most ``MAX_SAMPLES`` (10,000) generated samples per check;
- at most 2 GiB per sample (every input of one prediction together), overridable with the
  ``COREMLCHECK_MAX_SAMPLE_BYTES`` environment variable (bytes; suffixes K, M, G for KiB, MiB,
  GiB) or the ``max_sample_bytes`` argument of ``tensors()``/``images()``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..coreml.features import Feature

MAX_SAMPLES = 10_000
DEFAULT_MAX_SAMPLE_BYTES = 2 << 30
ENV_MAX_SAMPLE_BYTES = "COREMLCHECK_MAX_SAMPLE_BYTES"
_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def check_count(n, where: str) -> None:
    """``n`` is a whole number of samples from 1 to MAX_SAMPLES."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"{where}: the number of samples must be an integer, got "
                         f"{type(n).__name__}")
    if n < 1:
        raise ValueError(f"{where}: need at least one sample")
    if n > MAX_SAMPLES:
        raise ValueError(f"{where}: at most {MAX_SAMPLES:,} samples are generated per check "
                         f"(asked for {n:,}); check a representative subset")


def max_sample_bytes(override: int | None = None) -> int:
    """The per-sample byte limit: ``override``, else the environment variable, else 2 GiB."""
    if override is not None:
        return int(override)
    text = os.environ.get(ENV_MAX_SAMPLE_BYTES, "").strip()
    if not text:
        return DEFAULT_MAX_SAMPLE_BYTES
    scale = _SUFFIXES.get(text[-1].upper(), 1)
    digits = text[:-1] if scale != 1 else text
    if not digits.isdigit():
        raise ValueError(f"{ENV_MAX_SAMPLE_BYTES}={text!r}: expected a number of bytes, "
                         "optionally with a K, M or G suffix")
    return int(digits) * scale


def feature_bytes(feature: Feature) -> int:
    """Bytes one value of ``feature`` takes at its default shape (images: 8-bit pixels and the
    float32 array the source receives)."""
    count = math.prod(int(d) for d in feature.shape) if feature.shape else 1
    if feature.kind == "image":
        return count * (1 + 4)
    itemsize = feature.dtype.itemsize if feature.dtype is not None else 4
    return count * max(itemsize, 4)


def check_sample_size(features: list[Feature], where: str, override: int | None = None) -> None:
    """ValueError naming the largest input when one sample of ``features`` exceeds the limit."""
    limit = max_sample_bytes(override)
    sizes = {f.name: feature_bytes(f) for f in features}
    total = sum(sizes.values())
    if total <= limit:
        return
    largest = max(features, key=lambda f: sizes[f.name])
    raise ValueError(
        f"{where}: one sample needs {_size(total)}, over the {_size(limit)} limit per sample; "
        f"input {largest.name!r} of shape {tuple(largest.shape)} alone needs "
        f"{_size(sizes[largest.name])}. Raise the limit with {ENV_MAX_SAMPLE_BYTES} (bytes, "
        "or with a K/M/G suffix) if this is intended")


def _size(nbytes: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes} bytes"
