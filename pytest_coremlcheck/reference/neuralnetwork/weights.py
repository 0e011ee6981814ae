"""Decode a NeuralNetwork ``WeightParams`` message into a float32 array.

Formats (``NeuralNetwork.proto`` ``WeightParams``; the quantized ones exactly as
``coremltools.models.neural_network.quantization_utils.quantize_weights`` writes them):

- ``floatValue``: float32 values, row-major.
- ``float16Value``: little-endian IEEE half floats, row-major.
- ``rawValue`` + ``quantization`` (``numberOfBits`` = n, 1–8): unsigned n-bit integers q packed
  most-significant-bit first into consecutive bytes (the last byte zero-padded), then

  * ``linearQuantization``: ``w = q · scale[c] + bias[c]`` where ``scale``/``bias`` hold one
    value (per tensor) or one per channel along the quantization axis (axis 0, the output
    channels; axis 1 for deconvolution weights ``[C_in, C_out/groups, kH, kW]``);
  * ``lookupTableQuantization``: ``w = lut[q]`` with ``len(lut) == 2**n``.

- ``int8RawValue`` (``int8DynamicQuantize`` layers): signed int8 values q, ``w = q · scale``
  with a single linear-quantization scale.
- ``rawValue`` without quantization: float32 bytes.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelLoadError


def is_empty(wp) -> bool:
    """Whether ``wp`` holds no values at all."""
    return not (len(wp.floatValue) or wp.float16Value or wp.rawValue or wp.int8RawValue)


def value_count(wp) -> int | None:
    """Number of values stored, when the storage says so (float, fp16, 8-bit, raw float)."""
    if len(wp.floatValue):
        return len(wp.floatValue)
    if wp.float16Value:
        return len(wp.float16Value) // 2
    if wp.int8RawValue:
        return len(wp.int8RawValue)
    if wp.rawValue:
        nbits = wp.quantization.numberOfBits if wp.HasField("quantization") else 0
        if nbits == 8:
            return len(wp.rawValue)
        if not nbits:
            return len(wp.rawValue) // 4
    return None


def storage_format(wp) -> str:
    """A short name of how ``wp`` stores its values, for messages and reports."""
    if len(wp.floatValue):
        return "float32"
    if wp.float16Value:
        return "float16"
    if wp.int8RawValue:
        return "int8 (dynamic quantization)"
    if wp.rawValue:
        if wp.HasField("quantization"):
            q = wp.quantization
            kind = "LUT" if q.WhichOneof("QuantizationType") == "lookupTableQuantization" else \
                "linear"
            return f"{q.numberOfBits}-bit {kind}"
        return "raw float32"
    return "empty"


def decode(wp, shape, where: str, *, axis: int = 0) -> np.ndarray:
    """The values of ``wp`` as a float32 array of ``shape``.

    ``shape`` is a tuple of ints; ``where`` names the model, layer and field for errors;
    ``axis`` is the per-channel quantization axis of linearly quantized weights.
    """
    shape = tuple(int(d) for d in shape)
    count = math.prod(shape)
    values = _flat(wp, count, shape, where, axis)
    if values.size != count:
        raise ModelLoadError(f"{where}: holds {values.size} {storage_format(wp)} values, "
                             f"expected {count} for shape {list(shape)}")
    return values.reshape(shape)


def decode_any(wp, where: str, allowed: tuple[int, ...] | None = None) -> np.ndarray:
    """The values of ``wp`` as a flat float32 array whose length the storage determines.

    ``allowed`` optionally lists the valid lengths (e.g. ``(1, C)``).
    """
    count = value_count(wp)
    if count is None:
        if allowed is None:
            raise ModelLoadError(f"{where}: {storage_format(wp)} weights need a known shape")
        for n in allowed:
            try:
                return decode(wp, (n,), where)
            except ModelLoadError:
                continue
        raise ModelLoadError(f"{where}: {storage_format(wp)} payload matches none of the "
                             f"expected sizes {list(allowed)}")
    values = decode(wp, (count,), where)
    if allowed is not None and count not in allowed:
        raise ModelLoadError(f"{where}: holds {count} values, expected one of {list(allowed)}")
    return values


def _flat(wp, count: int, shape: tuple[int, ...], where: str, axis: int) -> np.ndarray:
    if len(wp.floatValue):
        return np.asarray(wp.floatValue, dtype=np.float32)
    if wp.float16Value:
        if len(wp.float16Value) % 2:
            raise ModelLoadError(f"{where}: float16 payload has an odd number of bytes "
                                 f"({len(wp.float16Value)})")
        return np.frombuffer(wp.float16Value, dtype="<f2").astype(np.float32)
    if wp.int8RawValue:
        q = np.frombuffer(wp.int8RawValue, dtype=np.int8).astype(np.float32)
        scale = list(wp.quantization.linearQuantization.scale) or [1.0]
        if len(scale) != 1:
            raise ModelLoadError(f"{where}: int8 dynamic quantization needs one scale, got "
                                 f"{len(scale)}")
        return q * np.float32(scale[0])
    if wp.rawValue:
        if not wp.HasField("quantization") or not wp.quantization.numberOfBits:
            if len(wp.rawValue) % 4:
                raise ModelLoadError(f"{where}: raw float32 payload of {len(wp.rawValue)} bytes "
                                     "is not a multiple of 4")
            return np.frombuffer(wp.rawValue, dtype="<f4").astype(np.float32)
        return _dequantize(wp, count, shape, where, axis)
    raise ModelLoadError(f"{where}: no weight values (floatValue, float16Value and rawValue "
                         f"are all empty); expected {count} values for shape {list(shape)}")


def _dequantize(wp, count: int, shape: tuple[int, ...], where: str, axis: int) -> np.ndarray:
    q = wp.quantization
    nbits = int(q.numberOfBits)
    if not 1 <= nbits <= 8:
        raise ModelLoadError(f"{where}: {nbits}-bit quantization is not supported "
                             "(expected 1 to 8 bits)")
    expected = (count * nbits + 7) // 8
    if len(wp.rawValue) != expected:
        raise ModelLoadError(f"{where}: {nbits}-bit quantized payload is {len(wp.rawValue)} "
                             f"bytes, expected {expected} for {count} values of shape "
                             f"{list(shape)}")
    levels = unpack(wp.rawValue, count, nbits)
    kind = q.WhichOneof("QuantizationType")
    if kind == "lookupTableQuantization":
        lut = np.asarray(q.lookupTableQuantization.floatValue, dtype=np.float32)
        if lut.size != 1 << nbits:
            raise ModelLoadError(f"{where}: lookup table has {lut.size} entries, expected "
                                 f"{1 << nbits} for {nbits}-bit indices")
        return lut[levels]
    if kind == "linearQuantization":
        lin = q.linearQuantization
        scale = np.asarray(lin.scale, dtype=np.float32)
        bias = np.asarray(lin.bias, dtype=np.float32) if len(lin.bias) else \
            np.zeros_like(scale)
        if scale.size != bias.size or scale.size == 0:
            raise ModelLoadError(f"{where}: linear quantization has {scale.size} scales and "
                                 f"{bias.size} biases; expected equal, non-zero counts")
        values = levels.astype(np.float32)
        if scale.size == 1:
            return values * scale[0] + bias[0]
        channel_axis = axis if axis < len(shape) else 0
        channels = shape[channel_axis] if shape else 1
        if scale.size != channels:
            raise ModelLoadError(f"{where}: linear quantization has {scale.size} scales, "
                                 f"expected 1 or {channels} (axis {channel_axis} of "
                                 f"{list(shape)})")
        view = [1] * len(shape)
        view[channel_axis] = channels
        values = values.reshape(shape) * scale.reshape(view) + bias.reshape(view)
        return values.reshape(-1)
    raise ModelLoadError(f"{where}: quantized payload without linear or lookup-table parameters")


def unpack(raw: bytes, count: int, nbits: int) -> np.ndarray:
    """``count`` unsigned ``nbits``-bit integers packed MSB-first in ``raw``, as int64."""
    data = np.frombuffer(raw, dtype=np.uint8)
    if nbits == 8:
        return data[:count].astype(np.int64)
    bits = np.unpackbits(data)[: count * nbits].reshape(count, nbits).astype(np.int64)
    weights = 1 << np.arange(nbits - 1, -1, -1, dtype=np.int64)
    return bits @ weights
