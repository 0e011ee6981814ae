"""The reference executor: runs Core ML models with torch on any OS.

It certifies conversion correctness and sensitivity to declared precision; it does not
reproduce Apple's device kernels. ``ReferenceModel`` loads on first use, so reading the
executor's errors (``coreml/`` does) imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from .errors import (
    ExecutionError,
    InputError,
    ModelLoadError,
    ReferenceError_,
    UnsupportedOpError,
)

if TYPE_CHECKING:
    from .model import ReferenceModel

__all__ = [
    "ReferenceModel",
    "ReferenceError_",
    "ModelLoadError",
    "UnsupportedOpError",
    "InputError",
    "ExecutionError",
]

__getattr__, __dir__ = lazy_attributes(__name__, {"ReferenceModel": "model"}, globals())
