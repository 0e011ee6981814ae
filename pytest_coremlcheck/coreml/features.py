"""Core ML feature descriptions (spec inputs/outputs) turned into plain data.

Shared by the reference executor (to validate and convert feeds), the checks (declared
inputs and outputs) and input generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .enums import ARRAY_DATA_TYPES
from .image import color_space

#: ``ArrayDataType`` name → the numpy dtype of its values.
_NUMPY_DTYPES = {"FLOAT32": np.float32, "DOUBLE": np.float64, "FLOAT16": np.float16,
                 "INT32": np.int32, "INT8": np.int8}


@dataclass
class Feature:
    """One input or output of a model.

    ``kind`` is ``array``, ``image``, ``int64``, ``double``, ``string``, ``dictionary``,
    ``sequence`` or ``state``. ``shape`` is the default shape (arrays: as declared; images:
    (1, C, H, W)). ``shapes`` lists every enumerated shape; ``ranges`` gives (low, high) per
    axis for range-flexible features (high = -1 for unbounded).
    """

    name: str
    kind: str
    shape: tuple[int, ...] = ()
    dtype: np.dtype | None = None
    color: str = ""
    optional: bool = False
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    ranges: list[tuple[int, int]] | None = None
    description: str = ""

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of an image feature's default size."""
        return (self.shape[-1], self.shape[-2])

    @property
    def flexible(self) -> bool:
        return bool(self.shapes) or self.ranges is not None

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        """Whether ``shape`` is the declared shape or allowed by its flexibility."""
        shape = tuple(shape)
        if self.shapes:
            return shape in self.shapes
        if self.ranges is not None:
            if len(shape) != len(self.ranges):
                return False
            return all(lo <= d and (hi < 0 or d <= hi) for d, (lo, hi) in zip(shape, self.ranges))
        return not self.shape or shape == self.shape

    def expected_shape_text(self) -> str:
        if self.shapes:
            return " or ".join(str(s) for s in self.shapes)
        if self.ranges is not None:
            return "(" + ", ".join(f"{lo}..{'∞' if hi < 0 else hi}" for lo, hi in self.ranges) + ")"
        return str(self.shape)


def _array_dtype(number: int, default) -> np.dtype:
    """The numpy dtype of an ``ArrayDataType`` number; ``default`` when it is unset or unknown."""
    return np.dtype(_NUMPY_DTYPES.get(ARRAY_DATA_TYPES.get(number), default))


def describe(feature_descriptions) -> list[Feature]:
    """Features of a spec's ``description.input`` / ``.output`` (or a function's)."""
    return [describe_one(fd) for fd in feature_descriptions]


def describe_one(fd) -> Feature:
    t = fd.type
    kind = t.WhichOneof("Type")
    optional = bool(t.isOptional)
    if kind == "multiArrayType":
        a = t.multiArrayType
        shape = tuple(int(d) for d in a.shape)
        shapes, ranges = [], None
        flex = a.WhichOneof("ShapeFlexibility")
        if flex == "enumeratedShapes":
            shapes = [tuple(int(d) for d in s.shape) for s in a.enumeratedShapes.shapes]
        elif flex == "shapeRange":
            ranges = [(int(r.lowerBound), int(r.upperBound)) for r in a.shapeRange.sizeRanges]
        if not shape and shapes:
            shape = shapes[0]
        if not shape and ranges:
            shape = tuple(lo for lo, _ in ranges)
        dtype = _array_dtype(a.dataType, np.float32)
        return Feature(fd.name, "array", shape, dtype, optional=optional, shapes=shapes,
                       ranges=ranges, description=fd.shortDescription)
    if kind == "imageType":
        im = t.imageType
        color = color_space(im)
        channels = 1 if color.startswith("GRAYSCALE") else 3
        shapes, ranges = [], None
        flex = im.WhichOneof("SizeFlexibility")
        width, height = int(im.width), int(im.height)
        if flex == "enumeratedSizes":
            shapes = [(1, channels, int(s.height), int(s.width)) for s in im.enumeratedSizes.sizes]
        elif flex == "imageSizeRange":
            r = im.imageSizeRange
            ranges = [(1, 1), (channels, channels),
                      (int(r.heightRange.lowerBound), int(r.heightRange.upperBound)),
                      (int(r.widthRange.lowerBound), int(r.widthRange.upperBound))]
        if (not width or not height) and shapes:
            height, width = shapes[0][2], shapes[0][3]
        if (not width or not height) and ranges:
            height, width = ranges[2][0], ranges[3][0]
        dtype = np.dtype(np.float16 if color == "GRAYSCALE_FLOAT16" else np.float32)
        return Feature(fd.name, "image", (1, channels, height, width), dtype, color=color,
                       optional=optional, shapes=shapes, ranges=ranges,
                       description=fd.shortDescription)
    simple = {
        "int64Type": ("int64", np.int64),
        "doubleType": ("double", np.float64),
        "stringType": ("string", None),
        "dictionaryType": ("dictionary", None),
        "sequenceType": ("sequence", None),
        "stateType": ("state", None),
    }
    name, dtype = simple.get(kind, (kind or "unknown", None))
    if kind == "stateType":
        arr = t.stateType.arrayType
        return Feature(fd.name, "state", tuple(int(d) for d in arr.shape),
                       _array_dtype(arr.dataType, np.float16))
    return Feature(fd.name, name, (), np.dtype(dtype) if dtype else None, optional=optional,
                   description=fd.shortDescription)
