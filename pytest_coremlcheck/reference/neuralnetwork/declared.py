"""Shapes a NeuralNetwork spec declares for blobs, checked against what the layers produce.

Two declarations exist:

- a layer's ``outputTensor`` (``NeuralNetwork.proto`` ``Tensor``: ``rank`` and ``dimValue``,
  −1 for an unknown dimension), written by converters and ``NeuralNetworkBuilder`` for some
  ND layers; the rank is always checked, the dimensions only when no input is flexible;
- a model output's ``multiArrayType.shape``. With the exact array mapping (spec ≥ 4) the blob
  must have that shape (or be allowed by the output's own flexibility); the check is skipped
  when an input is flexible, since the declared shape is then only the default input's. With
  the rank-5 mapping (old specs declare ``[C]`` or ``[C, H, W]`` whatever the blob's Seq and
  Batch axes) only the element count of the blob's last three axes must equal the declared
  one's.

A difference is an error naming the layer that produced the blob: the executor or the
conversion computed another shape than the spec promises.
"""

from __future__ import annotations

import math

import torch

from ..errors import ExecutionError


def layer_declarations(layer, dims_known: bool) -> list[tuple[int, tuple[int, ...]] | None]:
    """(rank, dims with −1 unknown) per output of ``layer``; None where nothing is declared.
    ``dims_known``: dimensions are checked (no input is flexible)."""
    declared = []
    for tensor in layer.outputTensor:
        if tensor.rank == 0:
            declared.append(None)
            continue
        dims = tuple(int(d) for d in tensor.dimValue) if dims_known else ()
        declared.append((int(tensor.rank), dims if len(dims) == tensor.rank else ()))
    return declared


def check_layer_output(model_name: str, step, index: int, blob: torch.Tensor,
                       declared: tuple[int, tuple[int, ...]]) -> None:
    """Raise when ``blob`` (output ``index`` of ``step``) breaks its ``outputTensor``."""
    rank, dims = declared
    shape = tuple(blob.shape)
    ok = len(shape) == rank and all(d < 0 or d == s for d, s in zip(dims, shape))
    if not ok:
        want = f"rank {rank}" + (f", shape {_text(dims)}" if dims else "")
        raise ExecutionError(
            f"{model_name}: layer {step.name!r} ({step.type}) output {step.outputs[index]!r} "
            f"has shape {list(shape)}; the layer's outputTensor declares {want}")


def output_shape_problem(feature, blob: torch.Tensor, rank5: bool) -> str | None:
    """Why ``blob`` does not fit the declared shape of output ``feature``, or None."""
    declared = tuple(feature.shape)
    shape = tuple(blob.shape)
    if not declared:
        return None
    if rank5:
        if len(declared) not in (1, 3):
            return None
        tail = math.prod(shape[-3:]) if shape else 1
        if tail == math.prod(declared):
            return None
        return (f"its last three axes {list(shape[-3:])} hold {tail} values, the declared shape "
                f"{list(declared)} holds {math.prod(declared)}")
    if feature.accepts_shape(shape):
        return None
    return f"the model declares {feature.expected_shape_text()}"


def _text(dims: tuple[int, ...]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in dims) + "]"
