"""Channel-order rules between the check's arrays and a TensorFlow model (pure numpy).

Inputs: the check hands every source the same arrays it builds for image inputs, the default
preprocess of a picture: ``(1, C, H, W)`` (NCHW). Keras image models take ``(N, H, W, C)``
(NHWC). A 4-D feed is passed unchanged when its shape fits the model's declared input shape;
when it does not fit but its NCHW→NHWC transpose ``(0, 2, 3, 1)`` does, it is transposed.
When the model declares no usable shape (unknown rank, or all four dimensions unknown) the feed
is passed unchanged.

Outputs: coremltools keeps a TensorFlow model's output layout (NHWC stays NHWC) for both
NeuralNetwork and ML program conversions. When the Core ML output is nevertheless channel-first
(an image output, or a converted model that appends a transpose), a 4-D source output whose
NHWC→NCHW transpose ``(0, 3, 1, 2)`` has the Core ML output's shape, while its own shape does
not, is transposed before comparison.

Every transpose is reported as a one-line note.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


def fits(shape: Sequence[int], declared: Sequence[int | None] | None) -> bool:
    """Whether ``shape`` fits ``declared`` (None dims match anything; None declared fits all)."""
    if declared is None:
        return True
    if len(shape) != len(declared):
        return False
    return all(d is None or int(d) == int(s) for s, d in zip(shape, declared))


def is_informative(declared: Sequence[int | None] | None) -> bool:
    """A 4-D declared shape with at least one known non-batch dimension."""
    return declared is not None and len(declared) == 4 and any(d is not None
                                                               for d in declared[1:])


def to_model_layout(array: np.ndarray, declared: Sequence[int | None] | None,
                    name: str) -> tuple[np.ndarray, str | None]:
    """The feed for input ``name`` in the model's layout, and a note when it was transposed."""
    if array.ndim != 4 or not is_informative(declared) or fits(array.shape, declared):
        return array, None
    moved = array.transpose(NCHW_TO_NHWC)
    if not fits(moved.shape, declared):
        return array, None
    return (np.ascontiguousarray(moved),
            f"input {name!r}: NCHW {tuple(array.shape)} → NHWC {tuple(moved.shape)} for the "
            "TensorFlow model")


def to_coreml_layout(source: np.ndarray, converted_shape: Sequence[int],
                     name: str) -> tuple[np.ndarray, str | None]:
    """The source output in the Core ML output's layout, and a note when it was transposed."""
    source = np.asarray(source)
    converted_shape = tuple(int(d) for d in converted_shape)
    if source.ndim != 4 or tuple(source.shape) == converted_shape:
        return source, None
    moved = source.transpose(NHWC_TO_NCHW)
    if tuple(moved.shape) != converted_shape:
        return source, None
    return (moved, f"output {name!r}: source NHWC {tuple(source.shape)} → NCHW "
                   f"{tuple(moved.shape)} to match the Core ML output")
