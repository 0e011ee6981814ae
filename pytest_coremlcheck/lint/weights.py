"""Values of MIL constants: immediate values in the spec, and blobs in ``weights/weight.bin``.

Blob file layout (MILBlob storage v2): a 64-byte header, then per blob a 64-byte metadata record
(``uint32 sentinel = 0xDEADBEEF, uint32 dtype, uint64 size_in_bytes, uint64 data_offset``,
reserved words) followed by the data. A ``blobFileValue`` points at the metadata record.
Only metadata is read unless a rule asks for values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SENTINEL = 0xDEADBEEF
_METADATA = struct.Struct("<IIQQ")
METADATA_BYTES = 64

#: MIL ``DataType`` name → numpy dtype for values a rule may read (floats and whole-byte ints).
NUMPY_DTYPES = {
    "FLOAT16": np.float16, "FLOAT32": np.float32, "FLOAT64": np.float64,
    "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16, "UINT16": np.uint16,
    "INT32": np.int32, "UINT32": np.uint32, "INT64": np.int64, "UINT64": np.uint64,
    "BOOL": np.bool_,
}


@dataclass(frozen=True)
class BlobRecord:
    """Where one blob's data lives: ``data_offset`` and ``size`` in bytes."""

    path: Path
    data_offset: int
    size: int


class BlobStore:
    """Resolves ``@model_path/...`` blob references and reads their records and data."""

    def __init__(self, model_dir: Path | None):
        self.model_dir = model_dir
        self._sizes: dict[str, int | None] = {}
        self._records: dict[tuple[str, int], BlobRecord | str] = {}

    def resolve(self, file_name: str) -> Path | None:
        """The file a ``blobFileValue.fileName`` names, or None when there is no model
        directory (a spec in memory) or the name escapes it."""
        if self.model_dir is None:
            return None
        relative = file_name.removeprefix("@model_path/").lstrip("/")
        path = (self.model_dir / relative)
        if ".." in Path(relative).parts:
            return None
        return path

    def file_size(self, file_name: str) -> int | None:
        if file_name not in self._sizes:
            path = self.resolve(file_name)
            try:
                self._sizes[file_name] = path.stat().st_size if path and path.is_file() else None
            except OSError:
                self._sizes[file_name] = None
        return self._sizes[file_name]

    def record(self, file_name: str, offset: int) -> BlobRecord | str:
        """The blob's record, or a sentence saying why it cannot be read."""
        key = (file_name, offset)
        if key not in self._records:
            self._records[key] = self._read_record(file_name, offset)
        return self._records[key]

    def _read_record(self, file_name: str, offset: int) -> BlobRecord | str:
        path = self.resolve(file_name)
        if path is None:
            return f"cannot resolve {file_name!r} without the model's directory"
        size = self.file_size(file_name)
        if size is None:
            return f"{file_name} is missing"
        if offset < 0 or offset + METADATA_BYTES > size:
            return f"offset {offset} is past the end of {file_name} ({size} bytes)"
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                sentinel, _dtype, nbytes, data_offset = _METADATA.unpack(
                    handle.read(_METADATA.size))
        except OSError as exc:
            return f"cannot read {file_name}: {exc.strerror}"
        if sentinel != SENTINEL:
            return f"no blob record at offset {offset} of {file_name} (bad sentinel)"
        if data_offset + nbytes > size:
            return (f"blob at offset {offset} of {file_name} runs past the end of the file "
                    f"({data_offset}+{nbytes} > {size} bytes)")
        return BlobRecord(path, data_offset, nbytes)

    def read(self, file_name: str, offset: int, dtype_name: str) -> np.ndarray | None:
        """The blob's values as a flat array, or None if unreadable or not a whole-byte type."""
        dtype = NUMPY_DTYPES.get(dtype_name)
        record = self.record(file_name, offset)
        if dtype is None or isinstance(record, str):
            return None
        count = record.size // np.dtype(dtype).itemsize
        try:
            return np.fromfile(record.path, dtype=dtype, count=count, offset=record.data_offset)
        except (OSError, ValueError):
            return None


def immediate_array(value, dtype_name: str) -> np.ndarray | None:
    """Decode a ``Value.immediateValue`` tensor into a flat numpy array (None if not a tensor
    of numbers)."""
    if value.WhichOneof("value") != "immediateValue":
        return None
    immediate = value.immediateValue
    if immediate.WhichOneof("value") != "tensor":
        return None
    tensor = immediate.tensor
    kind = tensor.WhichOneof("value")
    if kind == "floats":
        return np.asarray(tensor.floats.values, dtype=np.float32)
    if kind == "doubles":
        return np.asarray(tensor.doubles.values, dtype=np.float64)
    if kind == "ints":
        return np.asarray(tensor.ints.values, dtype=np.int64)
    if kind == "longInts":
        return np.asarray(tensor.longInts.values, dtype=np.int64)
    if kind == "bools":
        return np.asarray(tensor.bools.values, dtype=np.bool_)
    if kind == "bytes":
        dtype = NUMPY_DTYPES.get(dtype_name)
        raw = bytes(tensor.bytes.values)
        if dtype is None or len(raw) % np.dtype(dtype).itemsize:
            return None
        return np.frombuffer(raw, dtype=dtype)
    return None
