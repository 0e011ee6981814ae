"""Image features: PIL images to the arrays a program sees, and back.

An ML program's image input is a float tensor (1, C, H, W) of pixel values 0–255 in the
declared colour layout (RGB, BGR or grayscale); an image output is the same tensor turned into
an 8-bit image (clipped to 0–255, rounded).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import InputError

COLOR_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR", 40: "GRAYSCALE_FLOAT16"}


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
