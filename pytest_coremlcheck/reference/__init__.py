"""The reference executor: runs Core ML models with torch on any OS.

It certifies conversion correctness and sensitivity to declared precision; it does not
reproduce Apple's device kernels.
"""

from .errors import (
    ExecutionError,
    InputError,
    ModelLoadError,
    ReferenceError_,
    UnsupportedOpError,
)
from .model import ReferenceModel

__all__ = [
    "ReferenceModel",
    "ReferenceError_",
    "ModelLoadError",
    "UnsupportedOpError",
    "InputError",
    "ExecutionError",
]
