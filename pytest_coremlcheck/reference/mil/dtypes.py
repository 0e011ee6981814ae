"""MIL element types as torch dtypes, and how the executor stores them.

Values declared fp16 are stored as float32 tensors that hold fp16-representable values
(computed in float32, rounded to float16 after each op in the ``typed`` FP16 mode).
"""

from __future__ import annotations

import numpy as np
import torch
from coremltools.converters.mil.mil import types

_STORAGE = {
    types.fp16: torch.float32,
    types.fp32: torch.float32,
    types.fp64: torch.float64,
    types.int8: torch.int8,
    types.uint8: torch.uint8,
    types.int16: torch.int16,
    types.uint16: torch.int32,
    types.int32: torch.int32,
    types.uint32: torch.int64,
    types.int64: torch.int64,
    types.bool: torch.bool,
}


def storage_dtype(mil_dtype) -> torch.dtype | None:
    """The torch dtype values of MIL element type ``mil_dtype`` are stored in (None: none)."""
    return _STORAGE.get(mil_dtype)


def is_fp16(mil_dtype) -> bool:
    return mil_dtype is types.fp16


def numpy_dtype(mil_dtype) -> np.dtype:
    """The numpy dtype Core ML returns for a value of this MIL element type."""
    return np.dtype(types.nptype_from_builtin(mil_dtype))


def element_type(var):
    """The element type of a MIL var (its dtype for tensors and scalars), or None."""
    sym = var.sym_type
    if types.is_tensor(sym):
        return sym.get_primitive()
    if types.is_scalar(sym) or sym in _STORAGE:
        return sym
    return None


def to_torch(value, mil_dtype=None):
    """A const value (numpy array or scalar) as a torch tensor in its storage dtype."""
    array = np.asarray(value)
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    elif array.dtype.kind == "u" and array.dtype.itemsize > 1:
        array = array.astype(np.int64)
    # ascontiguousarray returns at least 1-D: keep 0-d scalars 0-d
    tensor = torch.from_numpy(np.ascontiguousarray(array).reshape(array.shape))
    target = storage_dtype(mil_dtype) if mil_dtype is not None else None
    if target is not None and tensor.dtype != target:
        tensor = tensor.to(target)
    return tensor
