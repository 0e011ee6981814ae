"""Image features: PIL images to the arrays a program sees, and back.

An ML program's image input is a float tensor (1, C, H, W) of pixel values 0–255 in the
declared colour layout (RGB, BGR or grayscale); an image output is the same tensor turned into
an 8-bit image (clipped to 0–255, rounded).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..reference.errors import InputError
from .enums import COLOR_SPACES

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def eight_bit(image: Image.Image, where: str) -> Image.Image:
    """``image`` with 8-bit channels, the range Core ML image inputs take.

    16-bit grayscale (e.g. a 16-bit PNG) is scaled, not clipped: v8 = round(v16 / 257), so
    65535 → 255 and an 8-bit value stored as v·257 comes back exactly. 32-bit integer and float
    images have no known range and are refused.
    """
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.rint(values / 257.0).astype(np.uint8), mode="L")
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "32-bit float"
        raise InputError(f"{where}: a {kind} image (PIL mode {image.mode}) has no known pixel "
                         "range; Core ML image inputs take 8-bit pixels: convert it to an 8-bit "
                         "image (mode L or RGB) first")
    return image


def color_space(image_type) -> str:
    """Name of a spec ImageFeatureType's colour space."""
    return COLOR_SPACES.get(image_type.colorSpace, "RGB")


def image_to_array(image, color: str, size: tuple[int, int] | None, where: str) -> np.ndarray:
    """A PIL image as a float32 (1, C, H, W) array in ``color``'s channel order.

    ``size`` is the expected (width, height) or None for flexible sizes; a mismatch is an
    error naming ``where``.
    """
    if not isinstance(image, Image.Image):
        raise InputError(f"{where}: expected a PIL.Image for an image input, got "
                         f"{type(image).__name__}")
    if size is not None and image.size != tuple(size):
        raise InputError(f"{where}: image is {image.size[0]}x{image.size[1]}, the model expects "
                         f"{size[0]}x{size[1]} (width x height)")
    image = eight_bit(image, where)
    if color.startswith("GRAYSCALE"):
        array = np.asarray(image.convert("L"), dtype=np.float32)[None, None]
    else:
        array = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1)[None]
        if color == "BGR":
            array = array[:, ::-1]
    return np.ascontiguousarray(array)


def array_to_image(array: np.ndarray, color: str) -> Image.Image:
    """A (1, C, H, W) or (C, H, W) array of 0–255 values as an 8-bit PIL image."""
    values = np.asarray(array, dtype=np.float32)
    while values.ndim > 3:
        values = values[0]
    pixels = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    if color.startswith("GRAYSCALE") or pixels.shape[0] == 1:
        return Image.fromarray(pixels[0], mode="L")
    if color == "BGR":
        pixels = pixels[::-1]
    return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)), mode="RGB")
