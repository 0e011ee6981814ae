"""Ops that read a compressed weight by rows decode only the rows they need.

``gather`` along axis 0 (an embedding table) decodes the rows its indices pick; ``linear``
decodes its weight in chunks of output rows (at most ``CHUNK_BYTES`` decoded at a time, about
the size of the L2 cache) and multiplies each chunk at once:
``y[..., r0:r1] = x · W[r0:r1]ᵀ + b[r0:r1]``. A weight the ``WeightCache`` keeps, or has room
for, is decoded whole and multiplied in the same chunks (BLAS may pick another kernel for
another number of rows, so the chunks are the same either way). Row decoding applies to
block-wise quantised weights (``constexpr_blockwise_shift_scale``); other compressed weights
are decoded whole. ``RowDecoder`` decodes the chunks of a rank-2 weight with 4- or 8-bit data
in four passes (see there), giving the bits of the op's whole-weight decode; where the C
kernel of ``kernel.py`` is built, it decodes the chunks in one pass and, for up to
``FUSED_ROWS`` rows of ``x`` (a decode step), multiplies each weight row as it decodes it,
with no chunk in memory: the same weight values, products summed in another order.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from . import kernel
from .ops._util import axis_index, scalar
from .ops.scatter_gather import _wrap
from .weights import PackedInts

#: Decoded float32 bytes of one ``linear`` weight chunk: about the L2 cache (measured on the
#: 125M decoder, one decode step: 128 KB 1.13 s, 256 KB 0.82 s, 512 KB 0.65 s, 1 MB 0.63 s,
#: 4 MB 0.80 s); 1 MB rather than 512 KB halves the products of a cached weight.
CHUNK_BYTES = 1 << 20

#: Rows of ``x`` (tokens) up to which the C kernel multiplies while it decodes; above, it
#: decodes chunks for a BLAS product, which reuses each decoded chunk across more rows
#: (measured on a 32000 × 768 int4 weight: the fused kernel is 0.6× torch's float32 product
#: at 4 rows, 2.5× at 32).
FUSED_ROWS = 8


def linear_by_rows(impl, fused: bool = True):
    """``linear`` whose ``weight`` input is a row-decodable ``Deferred``: computed in the same
    chunks of output rows whether the weight is decoded whole (kept by the cache) or by
    chunks, so the result does not depend on the cache. ``fused``: ``impl`` is the plain
    ``linear`` (no fp16 mode wraps it), so the C kernel may compute it."""

    def run(ins, node):
        weight, x = ins["weight"], ins["x"]
        decoder = weight.decoder
        native = decoder.native() if decoder is not None else None
        if native is not None and fused and x.dtype == torch.float32 and x.dim() >= 1 \
                and x.numel() // max(1, x.shape[-1]) <= FUSED_ROWS:
            bias = ins.get("bias")
            if bias is None or bias.dtype == torch.float32:
                return native.linear(x, bias)
        rows, row_size = weight.shape[0], weight.numel // weight.shape[0]
        step = max(1, CHUNK_BYTES // (4 * row_size))
        if rows <= step and native is None:
            return impl(dict(ins, weight=weight.value()), node)
        whole = weight.value() if native is None and weight.decoded_whole() else None
        decoder = decoder if whole is None else None
        if decoder is not None:
            chunks = decoder.decoded_chunks(step)
        else:
            chunks = ((start, min(rows, start + step)) for start in range(0, rows, step))
            chunks = ((start, stop, whole[start:stop] if whole is not None
                       else weight.rows(torch.arange(start, stop))) for start, stop in chunks)
        bias = ins.get("bias")
        per_row_bias = bias is not None and bias.dim() > 0
        parts = []
        for start, stop, chunk in chunks:
            part = dict(ins, weight=chunk)
            if per_row_bias:
                part["bias"] = bias[start:stop]
            parts.append(impl(part, node))
        return torch.cat(parts, dim=-1)

    return run


class RowDecoder:
    """Rows ``[r0, r1)`` of a rank-2 ``constexpr_blockwise_shift_scale`` weight,
    ``w = scale[r // br, c // bc] · (data[r, c] − offset[r // br, c // bc])`` (then rounded
    to fp16 when the op's output is), decoded into reused buffers in four passes:

    1. the data's bytes, or pairs of bytes as uint16 for 4-bit data, to int32 (indices);
    2. a table maps each byte to its 8-bit value, each pair of bytes to its four 4-bit values
       (low nibble first), as fp16 — exact, integers of at most 8 bits;
    3. ``− offset`` (integer offsets, exact in fp16) and ``· scale``: in fp16 when the output
       is rounded to fp16 (the scale is then fp16-exact, the float32 product exact, and fp16
       arithmetic rounds it once, as the float32 decode followed by fp16 rounding does),
       else after step 4 in float32;
    4. to float32.

    An fp16-exact scale is held as fp16 (half the bytes of float32). ``native()`` is the
    weight as the C kernel reads it (None without the kernel); ``decoded_chunks`` then uses it
    instead of ``decode``.

    ``of(deferred)`` is None for weights it does not cover (they use ``Deferred.rows``).
    """

    def __init__(self, source, table, per_index, signed, scale, offset, rows, cols, in_fp16):
        self.source, self.table, self.per_index, self.signed = source, table, per_index, signed
        self.scale, self.offset, self.rows, self.cols = scale, offset, rows, cols
        self.in_fp16 = in_fp16
        self._plans: dict[int, list[tuple]] = {}
        self._native: kernel.NativeWeight | None | bool = False  # False: not made yet

    @classmethod
    def of(cls, deferred) -> RowDecoder | None:
        """The decoder of a row-decodable ``Deferred``'s rank-2 weight, else None."""
        inputs = deferred.step.inputs
        if not deferred.row_decodable or len(deferred.shape) != 2:
            return None
        data, scale = inputs["data"][1], inputs["scale"][1]
        offset = inputs["offset"][1] if "offset" in inputs else None
        if offset is not None and offset.is_floating_point():
            return None
        rows, cols = deferred.shape
        if isinstance(data, PackedInts):
            if data.nbits != 4 or cols % 4:
                return None
            source = data.raw.reshape(rows, cols // 2).view(torch.uint16)
            signed, per_index = data.signed, 4
        elif data.dtype in (torch.int8, torch.uint8):
            source, signed, per_index = data.view(torch.uint8), data.dtype == torch.int8, 1
        else:
            return None
        rounds = deferred.step.round_fp16[0]
        fp16_scale = bool(torch.equal(scale.to(torch.float16).to(scale.dtype), scale))
        if rounds and not fp16_scale:
            return None
        if offset is not None:
            offset = offset.to(torch.float16 if rounds else torch.float32)
        scale = scale.to(torch.float16 if fp16_scale else torch.float32)
        return cls(source, value_table(per_index, signed), per_index, signed, scale, offset,
                   rows, cols, rounds)

    def native(self) -> kernel.NativeWeight | None:
        """The weight for the C kernel (made on first use), or None when it is not built."""
        if self._native is False:
            lib = kernel.library()
            self._native = None if lib is None else kernel.NativeWeight(
                lib, self.source.view(torch.uint8).reshape(self.rows, -1),
                4 if self.per_index == 4 else 8, self.signed,
                self.scale, self.offset, self.rows, self.cols, self.in_fp16)
        return self._native

    def decoded_chunks(self, rows: int):
        """(start, stop, decoded float32 rows) per chunk of ``rows`` rows, each a view of one
        reused buffer: by the C kernel where it is built, else by ``decode``."""
        native = self.native()
        if native is not None:
            out = torch.empty(rows * self.cols)
            for start in range(0, self.rows, rows):
                stop = min(self.rows, start + rows)
                yield start, stop, native.decode_rows(start, stop, out)
            return
        buffers = self.buffers(rows)
        for chunk in self.chunks(rows):
            yield chunk[0], chunk[1], self.decode(chunk, buffers)

    def buffers(self, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(indices, table values, float32 output) for chunks of up to ``rows`` rows."""
        count = rows * self.cols
        return (torch.empty(count // self.per_index, dtype=torch.int32),
                torch.empty(count // self.per_index, dtype=self.table.dtype),
                torch.empty(count))

    def chunks(self, rows: int) -> list[tuple]:
        """Per chunk of ``rows`` rows: (start, stop, its data, scale and offset rows shaped to
        broadcast over the blocks); views, made once per chunk size."""
        plan = self._plans.get(rows)
        if plan is None:
            plan = [self._chunk(start, min(self.rows, start + rows))
                    for start in range(0, self.rows, rows)]
            self._plans[rows] = plan
        return plan

    def _chunk(self, start: int, stop: int) -> tuple:
        scale = _block_rows(self.scale, self.rows, start, stop)[:, :, None]
        offset = None if self.offset is None else \
            _block_rows(self.offset, self.rows, start, stop)[:, :, None]
        return start, stop, self.source[start:stop].reshape(-1), scale, offset

    def decode(self, chunk: tuple, buffers) -> torch.Tensor:
        """The decoded float32 rows of ``chunk`` (from ``chunks``; a view of ``buffers``), by
        torch's element-wise ops."""
        start, stop, data, scale, offset = chunk
        index, entries, out = buffers
        size = data.numel()
        index = index[:size]
        index.copy_(data)
        values = torch.index_select(self.table, 0, index, out=entries[:size])
        blocks = scale.shape[1]
        values = values.view(torch.float16).view(stop - start, blocks, -1)
        out = out[: (stop - start) * self.cols].view(stop - start, blocks, -1)
        if self.in_fp16:
            if offset is not None:
                values.sub_(offset)
            values.mul_(scale)
            out.copy_(values)
        else:
            out.copy_(values)
            if offset is not None:
                out.sub_(offset)
            out.mul_(scale.to(torch.float32))
        return out.view(stop - start, self.cols)


def _block_rows(param: torch.Tensor, rows: int, start: int, stop: int) -> torch.Tensor:
    """The rows of a per-block parameter covering weight rows ``[start, stop)``, one per
    weight row."""
    block = rows // param.shape[0]
    if block == 1:
        return param[start:stop]
    return param.index_select(0, torch.arange(start, stop) // block)


@functools.cache
def value_table(per_index: int, signed: bool) -> torch.Tensor:
    """Index -> its value(s) as fp16 bit patterns: a byte -> one 8-bit value (int16 entries);
    a uint16 (two bytes, little-endian) -> four 4-bit values, low nibble of the first byte
    first (int64 entries, 512 KB), so the entries' bytes are in the data's order."""
    byte = np.arange(256, dtype=np.uint8)
    if per_index == 1:
        values = (byte.view(np.int8) if signed else byte).astype(np.float16)
        return torch.from_numpy(values.view(np.int16).copy())
    low, high = byte & 15, byte >> 4
    if signed:
        low, high = (low ^ 8).astype(np.int16) - 8, (high ^ 8).astype(np.int16) - 8
    pairs = np.stack([low, high], axis=1).astype(np.float16).view(np.int32).reshape(256)
    word = np.arange(65536, dtype=np.uint32)
    quads = np.stack([pairs[word & 255], pairs[word >> 8]], axis=1)
    return torch.from_numpy(quads.view(np.int64).reshape(65536).copy())


def gather_rows(impl, fused: bool = True):
    """``gather`` whose ``x`` input is a row-decodable ``Deferred``: along axis 0 without
    batch dims, only the picked rows are decoded (``fused`` is not used)."""

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
