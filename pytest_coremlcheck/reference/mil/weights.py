"""An ML program's weight file (``weights/weight.bin``), checked and read without extra copies.

Layout (MILBlob storage, version 2): a 64-byte header (``uint32 count, uint32 version = 2``,
reserved words), then per blob a 64-byte metadata record (``uint32 sentinel = 0xDEADBEEF,
uint32 data type, uint64 size in bytes, uint64 data offset``, reserved words) followed by the
data. A const's ``blobFileValue`` names the file and the offset of its metadata record.

Whole-byte constants (fp16, fp32, int8…uint32) are read straight into an array of their final
dtype (one allocation per constant). Sub-byte ones (int4, uint1…uint6) stay packed as stored
(``PackedInts``, ``ceil(count · nbits / 8)`` bytes) and are unpacked only when an op reads them;
the loaded program holds a zero-stride placeholder of the declared shape that carries them.
uint1 masks are the exception: the loader reads their values, so coremltools unpacks them.

A blob is read once per process while anything holds it: loading the same file again (each
function of a multifunction model loads the program; its functions share identical weights)
reuses the array already read, for an unchanged file (same size and modification time).
"""

from __future__ import annotations

import os
import stat
import struct
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError

SENTINEL = 0xDEADBEEF
HEADER = struct.Struct("<II")
METADATA = struct.Struct("<IIQQ")
HEADER_BYTES = 64
RECORD_BYTES = 64
STORAGE_VERSION = 2
LFS_POINTER = b"version https://git-lfs"

_LOCK = threading.Lock()

#: (path, size, mtime_ns, data offset, bytes, dtype) -> the 1-D array read from the file
_BLOBS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class WeightFiles:
    """The weight files of one model, each checked once when a constant first reads it.

    ``where`` names the model in errors; ``weights_dir`` is its ``weights`` directory.
    """

    def __init__(self, weights_dir: str, where: str):
        self.weights_dir = Path(weights_dir)
        self.where = where
        self._sizes: dict[Path, int] = {}
        self._mtimes: dict[Path, int] = {}

    def path_of(self, file_name: str) -> Path:
        """The file a ``blobFileValue.fileName`` (``@model_path/weights/<file>``) names."""
        return self.weights_dir / file_name.split("/")[-1]

    def size_of(self, path: Path) -> int:
        """The checked file's size in bytes; ModelLoadError when it is not a usable weight file."""
        if path not in self._sizes:
            self._sizes[path] = check_file(path, self.where)
            self._mtimes[path] = os.stat(path).st_mtime_ns
        return self._sizes[path]

    def blob(self, path: Path, dtype: np.dtype, count: int, data_offset: int) -> np.ndarray:
        """``count`` values of ``dtype`` from ``data_offset`` of a checked file, as a 1-D
        array shared with every other reader of the same blob in this process."""
        key = (str(path), self._sizes[path], self._mtimes[path], data_offset, count, dtype.str)
        array = _BLOBS.get(key)
        if array is None:
            array = np.fromfile(path, dtype=dtype, count=count, offset=data_offset)
            _BLOBS[key] = array
        return array

    def record(self, blob, const: str) -> tuple[Path, int, int]:
        """(path, data offset, size in bytes) of the blob a ``BlobFileValue`` points at."""
        path = self.path_of(blob.fileName)
        size = self.size_of(path)
        offset = int(blob.offset)
        where = f"{self.where}: {_short(path)}: const {const!r}"
        if offset < HEADER_BYTES or offset + RECORD_BYTES > size:
            raise ModelLoadError(f"{where} points at offset {offset}, outside the file's blob "
                                 f"records ({HEADER_BYTES}..{size - RECORD_BYTES} for a "
                                 f"{size}-byte file); the file is truncated or not this model's")
        with open(path, "rb") as handle:
            handle.seek(offset)
            sentinel, _dtype, nbytes, data_offset = METADATA.unpack(handle.read(METADATA.size))
        if sentinel != SENTINEL:
            raise ModelLoadError(f"{where}: no blob record at offset {offset} (sentinel "
                                 f"0x{sentinel:08X}, expected 0x{SENTINEL:08X}); the file is "
                                 "damaged or not this model's")
        if data_offset + nbytes > size:
            raise ModelLoadError(f"{where}: the blob at offset {offset} holds {nbytes} bytes "
                                 f"from offset {data_offset}, past the end of the file "
                                 f"({size} bytes); the file is truncated")
        return path, data_offset, nbytes

    def read(self, blob, const: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        """The constant's values, read into one array of ``dtype`` and ``shape``."""
        path, data_offset, nbytes = self.record(blob, const)
        count = int(np.prod(shape, dtype=np.int64))
        expected = count * dtype.itemsize
        if nbytes != expected:
            raise ModelLoadError(
                f"{self.where}: {_short(path)}: const {const!r} at offset {blob.offset} holds "
                f"{nbytes} bytes, its type {dtype.name}{list(shape)} needs {expected}")
        if count == 0:
            return np.zeros(shape, dtype)
        return self.blob(path, dtype, count, data_offset).reshape(shape)

    def read_packed(self, blob, const: str, valuetype) -> np.ndarray:
        """A sub-byte constant kept packed: a placeholder array carrying its ``PackedInts``."""
        from coremltools.converters.mil.mil import types

        path, data_offset, nbytes = self.record(blob, const)
        primitive = valuetype.get_primitive() if types.is_tensor(valuetype) else valuetype
        shape = tuple(int(d) for d in valuetype.get_shape()) if types.is_tensor(valuetype) else ()
        nbits = primitive.get_bitwidth()
        count = int(np.prod(shape, dtype=np.int64))
        expected = -(-count * nbits // 8)
        if nbytes != expected:
            raise ModelLoadError(
                f"{self.where}: {_short(path)}: const {const!r} at offset {blob.offset} holds "
                f"{nbytes} bytes, its type {types.builtin_to_string(primitive)}{list(shape)} "
                f"needs {expected}")
        raw = self.blob(path, np.dtype(np.uint8), nbytes, data_offset)
        packed = PackedInts(raw, nbits, not primitive.is_unsigned(), shape)
        return packed.placeholder(np.dtype(types.nptype_from_builtin(primitive)))


class PackedInts:
    """``count`` sub-byte integers of ``nbits`` bits packed LSB first (MILBlob layout): field i
    is bits ``[i·nbits, (i+1)·nbits)`` of the little-endian bit stream; signed fields are two's
    complement. ``value()`` unpacks them into an int8 (signed) or uint8 tensor of ``shape``."""

    __slots__ = ("raw", "nbits", "signed", "shape", "count")

    def __init__(self, raw: np.ndarray, nbits: int, signed: bool, shape: tuple[int, ...]):
        import torch

        self.raw = torch.from_numpy(raw)
        self.nbits, self.signed, self.shape = nbits, signed, tuple(shape)
        self.count = int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.raw.numel()

    def placeholder(self, dtype: np.dtype) -> np.ndarray:
        """A read-only zero-stride array of the declared shape and of ``dtype`` (coremltools'
        int8 / uint8 carrying the sub-byte type), holding this object as ``.packed``: what the
        loaded program keeps instead of the values."""
        view = np.broadcast_to(np.zeros((), dtype), self.shape).view(_Placeholder)
        view.packed = self
        return view

    def rows(self, index) -> PackedInts:
        """Rows ``index`` (int64 tensor) of axis 0, still packed; each row must be a whole
        number of bytes."""
        raw = self.raw.reshape(self.shape[0], -1).index_select(0, index).reshape(-1)
        return PackedInts(raw.numpy(), self.nbits, self.signed, (len(index),) + self.shape[1:])

    def value(self):
        """The unpacked integers as a torch tensor (int8 when signed, else uint8)."""
        import torch

        if self.nbits == 4:  # two fields per byte: low nibble first
            raw = self.raw.view(torch.int8) if self.signed else self.raw
            flat = torch.empty((raw.numel(), 2), dtype=raw.dtype)
            if self.signed:  # arithmetic shifts sign-extend
                torch.bitwise_left_shift(raw, 4, out=flat[:, 0]).bitwise_right_shift_(4)
            else:
                torch.bitwise_and(raw, 15, out=flat[:, 0])
            torch.bitwise_right_shift(raw, 4, out=flat[:, 1])
            return flat.reshape(-1)[: self.count].reshape(self.shape)
        if 8 % self.nbits == 0:
            mask = (1 << self.nbits) - 1
            per_byte = 8 // self.nbits
            flat = torch.empty((self.raw.numel(), per_byte), dtype=torch.uint8)
            for field in range(per_byte):
                torch.bitwise_and(self.raw >> (field * self.nbits), mask, out=flat[:, field])
            flat = flat.reshape(-1)[: self.count]
        else:
            bits = np.unpackbits(self.raw.numpy(), bitorder="little")[: self.count * self.nbits]
            weights = 1 << np.arange(self.nbits, dtype=np.uint16)
            flat = torch.from_numpy(
                (bits.reshape(self.count, self.nbits) * weights).sum(1).astype(np.uint8))
        if self.signed:  # sign-extend: move the field's top bit to bit 7, shift back
            spare = 8 - self.nbits
            flat = (flat << spare).view(torch.int8) >> spare
        return flat.reshape(self.shape)


class _Placeholder(np.ndarray):
    """A zero-stride array standing in for packed sub-byte values (see ``PackedInts``)."""

    packed: PackedInts | None = None



def check_file(path: Path, where: str) -> int:
    """Size of weight file ``path`` after checking it is a regular file with a MILBlob header.

    Refuses FIFOs, devices and directories before opening them (reading a FIFO blocks), Git
    LFS pointer files (the weights were never fetched) and files without a version-2 header.
    """
    name = _short(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelLoadError(f"{where}: the ML program reads its weights from {path}, which "
                             "is missing") from None
    except OSError as exc:
        raise ModelLoadError(f"{where}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelLoadError(f"{where}: {path} is not a regular file (a FIFO, device or "
                             "directory); a weight file must be a regular file")
    with open(path, "rb") as handle:
        head = handle.read(HEADER_BYTES)
    if head.startswith(LFS_POINTER):
        raise ModelLoadError(f"{where}: {path} is a Git LFS pointer file, not the weights: "
                             "fetch the real file with `git lfs pull` (or `git lfs checkout`)")
    if len(head) < HEADER_BYTES:
        raise ModelLoadError(f"{where}: {name} is {len(head)} bytes, shorter than its "
                             f"{HEADER_BYTES}-byte header; the file is truncated")
    _count, version = HEADER.unpack(head[:HEADER.size])
    if version != STORAGE_VERSION:
        raise ModelLoadError(f"{where}: {name} has storage version {version} in its header, "
                             f"expected {STORAGE_VERSION}; the file is damaged or not a Core ML "
                             "weight file")
    return info.st_size


def _short(path: Path) -> str:
    """``weights/weight.bin`` style name for messages."""
    return f"{path.parent.name}/{path.name}"


@contextmanager
def reading_weights(weights_dir: str | None, where: str):
    """Within the block, coremltools' MIL loader reads blob constants through WeightFiles."""
    from coremltools.converters.mil.frontend.milproto import load as milproto

    if weights_dir is None:
        yield
        return
    files = WeightFiles(weights_dir, where)
    original_value, original_operation = milproto._load_value, milproto._load_operation
    current = [""]

    def load_operation(context, op_spec):
        current[0] = op_spec.outputs[0].name if op_spec.outputs else op_spec.type
        return original_operation(context, op_spec)

    def load_value(context, value_spec):
        if value_spec.WhichOneof("value") != "blobFileValue" or value_spec.docString:
            return original_value(context, value_spec)
        valuetype = milproto.proto_to_types(value_spec.type)
        dtype, shape = _layout(valuetype)
        if dtype is None:
            if _is_sub_byte(valuetype):
                return files.read_packed(value_spec.blobFileValue, current[0], valuetype)
            files.record(value_spec.blobFileValue, current[0])
            return original_value(context, value_spec)
        return files.read(value_spec.blobFileValue, current[0], dtype, shape)

    with _LOCK:
        milproto._load_value, milproto._load_operation = load_value, load_operation
        try:
            yield
        finally:
            milproto._load_value, milproto._load_operation = original_value, original_operation


def _layout(valuetype) -> tuple[np.dtype | None, tuple[int, ...]]:
    """(numpy dtype, shape) of a whole-byte tensor type; (None, ()) for anything else."""
    from coremltools.converters.mil.mil import types

    if not types.is_tensor(valuetype):
        return None, ()
    primitive = valuetype.get_primitive()
    if types.is_sub_byte(primitive) or primitive not in _WHOLE_BYTE:
        return None, ()
    shape = tuple(int(d) for d in valuetype.get_shape())
    return np.dtype(types.nptype_from_builtin(primitive)), shape


def _is_sub_byte(valuetype) -> bool:
    """Whether a blob of ``valuetype`` stays packed: sub-byte, except uint1, whose values
    (sparsity masks) coremltools' loader reads to type the ops using them."""
    from coremltools.converters.mil.mil import types

    primitive = valuetype.get_primitive() if types.is_tensor(valuetype) else valuetype
    return types.is_sub_byte(primitive) and primitive.get_bitwidth() > 1


def packed_of(value) -> PackedInts | None:
    """The packed integers a loaded constant's placeholder carries, else None."""
    return getattr(value, "packed", None) if isinstance(value, _Placeholder) else None


def _whole_byte_types():
    from coremltools.converters.mil.mil import types

    return {types.fp16, types.fp32, types.int8, types.uint8, types.int16, types.uint16,
            types.int32, types.uint32}


_WHOLE_BYTE = _whole_byte_types()
