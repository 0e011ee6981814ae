"""Compressed weights: the ``constexpr_*`` ops, materialised once when a model loads.

The program loader hands sub-byte payloads (uint1/2/3/4/6, int4) over already unpacked, one
element per byte (uint8 / int8 arrays of the declared shape); the iOS16 ``lut_to_dense`` and
``sparse_to_dense`` ops instead carry bit-packed uint8 bytes, unpacked here (LSB first).
"""

from __future__ import annotations

import numpy as np
import torch

from ..registry import register
from ._util import axis_index, ints, scalar


def unpack_bits(packed: torch.Tensor, nbits: int, count: int) -> torch.Tensor:
    """The first ``count`` ``nbits``-wide unsigned fields of ``packed`` bytes, LSB first.

    Field ``i`` occupies bits ``[i·nbits, (i+1)·nbits)`` of the little-endian bit stream;
    its value is ``sum_k bit[i·nbits + k] · 2^k``.
    """
    raw = np.ascontiguousarray(packed.numpy().astype(np.uint8).reshape(-1))
    bits = np.unpackbits(raw, bitorder="little")[: count * nbits].reshape(count, nbits)
    weights = (1 << np.arange(nbits, dtype=np.int64))
    return torch.from_numpy(bits.astype(np.int64) @ weights)


def _float(t: torch.Tensor) -> torch.Tensor:
    return t if t.is_floating_point() else t.to(torch.float32)


def _along_axis(param: torch.Tensor, rank: int, axis: int) -> torch.Tensor:
    """A scalar or vector parameter shaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    if param.dim() == 0 or param.numel() == 1 and param.dim() <= 1:
        return param.reshape(())
    shape = [1] * rank
    shape[axis_index(axis, rank)] = -1
    return param.reshape(shape)


# --------------------------------------------------------------------------- iOS16


@register("constexpr_affine_dequantize", versions=("iOS16",))
def constexpr_affine_dequantize(ins, node):
    """``out = scale · (quantized_data − zero_point)``; scale, zero_point scalar or per-axis."""
    data = ins["quantized_data"]
    axis = int(scalar(ins["axis"]))
    scale = _along_axis(_float(ins["scale"]), data.dim(), axis)
    zero = _along_axis(_float(ins["zero_point"]), data.dim(), axis)
    return scale * (data.to(torch.float32) - zero)


@register("constexpr_cast")
def constexpr_cast(ins, node):
    """``out = cast(source_val, output_dtype)`` (fp16 -> fp32: values are already exact)."""
    return ins["source_val"].to(torch.float32)


@register("constexpr_lut_to_dense", versions=("iOS16",))
def constexpr_lut_to_dense_ios16(ins, node):
    """``out = lut[indices]`` reshaped to ``shape``; indices bit-packed with nbits = log2(|lut|)."""
    lut = ins["lut"]
    shape = ints(ins["shape"])
    count = int(np.prod(shape)) if shape else 1
    nbits = int(round(np.log2(lut.numel())))
    indices = unpack_bits(ins["indices"], nbits, count)
    return lut.reshape(-1)[indices].reshape(shape)


@register("constexpr_sparse_to_dense", versions=("iOS16",))
def constexpr_sparse_to_dense_ios16(ins, node):
    """Scatter ``nonzero_data`` to the set bits of the packed ``mask`` (row-major); 0 elsewhere."""
    data = ins["nonzero_data"]
    shape = ints(ins["shape"])
    count = int(np.prod(shape)) if shape else 1
    mask = unpack_bits(ins["mask"], 1, count).bool()
    out = torch.zeros(count, dtype=data.dtype)
    out[mask] = data.reshape(-1)
    return out.reshape(shape)


# --------------------------------------------------------------------------- iOS18


def _per_block(param: torch.Tensor, shape) -> tuple[list[int], torch.Tensor]:
    """``param`` viewed to broadcast over blocks: data of ``shape`` is viewed as
    ``[n_0, b_0, n_1, b_1, …]`` (n = param.shape, b = block = shape / n) and ``param`` as
    ``[n_0, 1, n_1, 1, …]``; returns (the data's blocked shape, the viewed param)."""
    blocked, view = [], []
    for size, n in zip(shape, param.shape):
        blocked += [n, size // n]
        view += [n, 1]
    return blocked, param.reshape(view)


def shift_scale(data: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor | None):
    """``out[i] = scale[i // block] · (data[i] − offset[i // block])`` for every index i.

    Computed in float32 (integers converted exactly) on one new tensor, updated in place, with
    scale and offset broadcast over their blocks (never repeated to the data's size).
    """
    blocked, scale = _per_block(_float(scale), data.shape)
    values = data.to(torch.float32, copy=True).reshape(blocked)
    if offset is not None:
        values.sub_(_per_block(_float(offset), data.shape)[1])
    return values.mul_(scale).reshape(data.shape)


@register("constexpr_blockwise_shift_scale", versions=("iOS18",))
def constexpr_blockwise_shift_scale(ins, node):
    """Block-wise affine dequantisation: ``scale · (data − offset)``, one scale per block."""
    return shift_scale(ins["data"], ins["scale"], ins.get("offset"))


def lut_lookup(indices: torch.Tensor, lut: torch.Tensor, vector_axis: int | None):
    """Grouped (and vector) palettisation.

    ``lut`` has shape ``[G_0..G_{K-1}, P, V]`` for rank-K ``indices``; element p uses table
    ``g = (p_0 // (D_0/G_0), …)``. With V = 1, ``out[p] = lut[g, indices[p], 0]``; with V > 1
    each index expands into V consecutive elements along ``vector_axis``.
    """
    shape = list(indices.shape)
    rank = len(shape)
    groups = list(lut.shape[:rank])
    palettes, vector = lut.shape[-2], lut.shape[-1]
    group_id = torch.zeros(shape, dtype=torch.int64)
    for axis in range(rank):
        block = shape[axis] // groups[axis]
        ids = torch.arange(shape[axis]) // block
        view = [1] * rank
        view[axis] = -1
        group_id = group_id * groups[axis] + ids.reshape(view)
    flat = lut.reshape(-1, vector)
    out = flat[group_id * palettes + indices.to(torch.int64)]  # [*shape, V]
    if vector == 1:
        return out.squeeze(-1)
    axis = axis_index(int(vector_axis), rank)
    out = torch.movedim(out, -1, axis + 1)
    shape[axis] *= vector
    return out.reshape(shape)


@register("constexpr_lut_to_dense", versions=("iOS18",))
def constexpr_lut_to_dense(ins, node):
    vector_axis = ins.get("vector_axis")
    return lut_lookup(ins["indices"], ins["lut"],
                      None if vector_axis is None else int(scalar(vector_axis)))


def sparse_to_dense(nonzero: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``out[mask != 0] = nonzero`` in row-major order, zeros elsewhere; shape of ``mask``."""
    out = torch.zeros(mask.shape, dtype=nonzero.dtype)
    out[mask != 0] = nonzero.reshape(-1)
    return out


@register("constexpr_sparse_to_dense", versions=("iOS18",))
def constexpr_sparse_to_dense(ins, node):
    return sparse_to_dense(ins["nonzero_data"], ins["mask"])


@register("constexpr_lut_to_sparse", versions=("iOS18",))
def constexpr_lut_to_sparse(ins, node):
    """(mask', values'): palettise only the non-zero entries; vectors expand the mask too."""
    mask = ins["indices_mask"]
    lut = ins["lut"]
    vector_axis = ins.get("vector_axis")
    vector_axis = None if vector_axis is None else int(scalar(vector_axis))
    dense_indices = sparse_to_dense(ins["indices_nonzero_data"].to(torch.int64), mask)
    dense = lut_lookup(dense_indices, lut, vector_axis)
    out_mask = mask
    if vector_axis is not None and lut.shape[-1] > 1:
        out_mask = torch.repeat_interleave(mask, lut.shape[-1], dim=vector_axis)
    return out_mask, dense[out_mask != 0].reshape(-1)


@register("constexpr_sparse_blockwise_shift_scale", versions=("iOS18",))
def constexpr_sparse_blockwise_shift_scale(ins, node):
    """(mask, values'): block-wise ``scale · (data − offset)`` applied to the non-zero entries."""
    mask = ins["data_mask"]
    dense = sparse_to_dense(ins["nonzero_data"], mask)
    values = shift_scale(dense, ins["scale"], ins.get("offset"))
    return mask, values[mask != 0].reshape(-1)
