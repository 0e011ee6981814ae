"""Ops that read a compressed weight by rows decode only the rows they need.

``gather`` along axis 0 (an embedding table) decodes the rows its indices pick; ``linear``
decodes its weight in chunks of output rows (at most ``CHUNK_BYTES`` decoded at a time) and
concatenates the partial results: ``y[..., r0:r1] = x · W[r0:r1]ᵀ + b[r0:r1]``. A weight the
``WeightCache`` keeps, or has room for, is decoded whole and multiplied in the same chunks
(BLAS may pick another kernel for another number of rows, so the chunks are the same either
way). Row decoding applies to block-wise quantised weights
(``constexpr_blockwise_shift_scale``); other compressed weights are decoded whole.
"""

from __future__ import annotations

import torch

from .ops._util import axis_index, scalar
from .ops.scatter_gather import _wrap

#: Decoded float32 bytes of one ``linear`` weight chunk.
CHUNK_BYTES = 4 << 20


def linear_by_rows(impl):
    """``linear`` whose ``weight`` input is a row-decodable ``Deferred``: computed in the same
    chunks of output rows whether the weight is decoded whole (kept by the cache) or by
    chunks, so the result does not depend on the cache."""

    def run(ins, node):
        weight = ins["weight"]
        rows, row_size = weight.shape[0], weight.numel // weight.shape[0]
        step = max(1, CHUNK_BYTES // (4 * row_size))
        if rows <= step:
            return impl(dict(ins, weight=weight.value()), node)
        whole = weight.value() if weight.decoded_whole() else None
        bias = ins.get("bias")
        parts = []
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            part = dict(ins, weight=whole[start:stop] if whole is not None
                        else weight.rows(torch.arange(start, stop)))
            if bias is not None and bias.dim() > 0:
                part["bias"] = bias[start:stop]
            parts.append(impl(part, node))
        return torch.cat(parts, dim=-1)

    return run


def gather_rows(impl):
    """``gather`` whose ``x`` input is a row-decodable ``Deferred``: along axis 0 without
    batch dims, only the picked rows are decoded."""

    def run(ins, node):
        table = ins["x"]
        axis = axis_index(int(scalar(ins.get("axis"), 0)), len(table.shape))
        batch_dims = int(scalar(ins.get("batch_dims"), 0))
        if axis != 0 or batch_dims != 0 or table.decoded_whole():
            return impl(dict(ins, x=table.value()), node)
        # the op on a stand-in of the table's shape (no memory) validates the indices
        impl(dict(ins, x=torch.zeros(()).expand(table.shape)), node)
        rows = table.shape[0]
        index = _wrap(ins["indices"], rows).clamp(0, rows - 1)
        unique, inverse = torch.unique(index.reshape(-1), return_inverse=True)
        picked = table.rows(unique)[inverse]
        return picked.reshape(tuple(index.shape) + tuple(table.shape[1:]))

    return run


ROW_READERS = {"linear": ("weight", linear_by_rows), "gather": ("x", gather_rows)}
