"""How a NeuralNetwork maps input features to blobs and blobs back to output arrays.

``NeuralNetwork.arrayInputShapeMapping``:

- ``RANK5_ARRAY_MAPPING`` (0, the only mapping of spec versions ≤ 3): a feature of declared
  shape ``[C]`` becomes a blob ``[1, 1, C, 1, 1]``, ``[C, H, W]`` becomes ``[1, 1, C, H, W]``
  (axes ``[Seq, Batch, C, H, W]``). An array fed with 4 dimensions is read as ``[B, C, H, W]``
  and with 5 as ``[Seq, B, C, H, W]``; 2 dimensions as ``[Seq, C]``.
- ``EXACT_ARRAY_MAPPING`` (1): the array's own shape and rank.

``imageInputShapeMapping``: ``RANK5_IMAGE_MAPPING`` (0) gives ``[1, 1, C, H, W]``,
``RANK4_IMAGE_MAPPING`` (1) gives ``[1, C, H, W]``.

Outputs of rank-5 networks: the blob is reshaped to the output's declared shape when the element
counts agree; otherwise its leading unit ``Seq``/``Batch`` axes are dropped (a ``[1, 1, C, H, W]``
blob is returned as ``[C, H, W]``), and it is returned as is when they are not 1. Outputs of
exact-mapping networks are returned with the blob's shape.
"""

from __future__ import annotations

import math

import torch

RANK5_ARRAY_MAPPING = 0
EXACT_ARRAY_MAPPING = 1
RANK5_IMAGE_MAPPING = 0
RANK4_IMAGE_MAPPING = 1


def array_to_blob(x: torch.Tensor, rank5: bool) -> torch.Tensor:
    """A fed array as the blob the first layer sees."""
    if not rank5:
        return x
    shape = tuple(x.shape)
    if len(shape) == 0:
        return x.reshape(1, 1, 1, 1, 1)
    if len(shape) == 1:
        return x.reshape(1, 1, shape[0], 1, 1)
    if len(shape) == 2:
        return x.reshape(shape[0], 1, shape[1], 1, 1)
    if len(shape) == 3:
        return x.reshape(1, 1, *shape)
    if len(shape) == 4:
        return x.reshape(1, *shape)
    return x


def image_to_blob(x: torch.Tensor, rank5: bool) -> torch.Tensor:
    """A (1, C, H, W) image array as the blob the first layer sees."""
    return x.reshape(1, *x.shape) if rank5 else x


def blob_to_output(blob: torch.Tensor, declared: tuple[int, ...], rank5: bool) -> torch.Tensor:
    """An output blob shaped as ``MLModel.predict`` returns the output array."""
    if not rank5:
        return blob
    if declared and math.prod(declared) == blob.numel():
        return blob.reshape(declared)
    if blob.dim() == 5 and blob.shape[0] == 1 and blob.shape[1] == 1:
        return blob.reshape(blob.shape[2:])
    return blob
