"""A C kernel for block-wise quantised weights: decode a row and multiply it in one pass.

Decoding an int4 weight with torch's element-wise ops takes four passes over memory per
weight (``rowwise.RowDecoder``); ``blockwise.c`` decodes each row once, in registers where
the CPU has AVX2, F16C and FMA, and for a few input rows (a decode step) multiplies it there
(``linear``), or writes decoded rows for a matrix product (``decode_rows``). The values are
those of the torch decode, bit for bit: ``(q − offset) · scale`` in float32, then rounded to
fp16 (ties to even) when the op's output is fp16; products accumulate in float32 in another
order than BLAS.

The kernel is built on first use with the system C compiler (``$CC``, else ``cc``, ``gcc``
or ``clang``), optimised for this machine's CPU, and kept in ``$COREMLCHECK_KERNEL_DIR``
(default: ``~/.cache/pytest-coremlcheck/kernels``) under a name hashing the source, the
compiler, its flags and the CPU. Without a compiler, or with ``COREMLCHECK_NATIVE=0``, the
torch decode runs instead: the same weight values, slower.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("blockwise.c")

#: Environment variable: ``0`` turns the C kernel off.
SWITCH_VARIABLE = "COREMLCHECK_NATIVE"

#: Environment variable: where built kernels are kept.
DIRECTORY_VARIABLE = "COREMLCHECK_KERNEL_DIR"

_BASE_FLAGS = ("-O3", "-fPIC", "-shared", "-fno-fast-math")


class Weight(ctypes.Structure):
    """``cmlc_weight`` of ``blockwise.c``."""

    _fields_ = [("data", ctypes.c_void_p), ("rows", ctypes.c_int64), ("cols", ctypes.c_int64),
                ("nbits", ctypes.c_int32), ("is_signed", ctypes.c_int32),
                ("scale_half", ctypes.c_int32), ("round16", ctypes.c_int32),
                ("scale", ctypes.c_void_p), ("offset", ctypes.c_void_p),
                ("srows", ctypes.c_int64), ("scols", ctypes.c_int64)]


def enabled() -> bool:
    """Whether the C kernel may be used (``$COREMLCHECK_NATIVE`` is not ``0``)."""
    return os.environ.get(SWITCH_VARIABLE, "").strip() != "0"


def library() -> ctypes.CDLL | None:
    """The built kernel, or None when it is turned off or cannot be built here."""
    return _library() if enabled() else None


@functools.cache
def _library() -> ctypes.CDLL | None:
    compiler = _compiler()
    if compiler is None:
        return None
    for flags in (_BASE_FLAGS + (_native_flag(),), _BASE_FLAGS):
        path = _build(compiler, flags)
        if path is not None:
            return load(path)
    return None


def load(path: Path) -> ctypes.CDLL:
    """The kernel built at ``path``, its functions declared."""
    lib = ctypes.CDLL(str(path))
    _declare(lib)
    return lib


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _native_flag() -> str:
    return "-mcpu=native" if platform.machine().lower() in ("arm64", "aarch64") else \
        "-march=native"


def _build(compiler: str, flags: tuple[str, ...]) -> Path | None:
    """The shared library built from ``SOURCE`` with ``flags`` (built once, then found by its
    name), or None when the compiler fails."""
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, compiler.encode(), " ".join(flags).encode(),
                                     _cpu_identity().encode()])).hexdigest()[:16]
    directory = Path(os.environ.get(DIRECTORY_VARIABLE) or
                     Path.home() / ".cache" / "pytest-coremlcheck" / "kernels")
    target = directory / f"blockwise-{key}.so"
    if target.exists():
        return target
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            built = Path(tmp) / target.name
            subprocess.run([compiler, *flags, str(SOURCE), "-o", str(built)], check=True,
                           capture_output=True, timeout=120)
            os.replace(built, target)  # atomic: concurrent builds each install a whole file
    except (OSError, subprocess.SubprocessError):
        return None
    return target


def _cpu_identity() -> str:
    """The CPU model and features (a kernel built for one CPU may not run on another)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.machine()} {platform.processor()} {platform.platform()}"
    lines = [line for line in text.splitlines()
             if line.startswith(("model name", "flags", "Features", "CPU part"))]
    return "\n".join(sorted(set(lines)))


def _declare(lib: ctypes.CDLL) -> None:
    pointer, count = ctypes.c_void_p, ctypes.c_int64
    weight = ctypes.POINTER(Weight)
    lib.cmlc_decode_rows.argtypes = [weight, count, count, pointer]
    lib.cmlc_linear.argtypes = [weight, pointer, count, pointer, pointer, pointer]
    lib.cmlc_round_to_half.argtypes = [pointer, pointer, count]
    for function in (lib.cmlc_decode_rows, lib.cmlc_linear, lib.cmlc_round_to_half):
        function.restype = None


class NativeWeight:
    """A block-wise quantised rank-2 weight as the kernel reads it. ``data`` is uint8
    (``rows × cols/2`` bytes for 4-bit, ``rows × cols`` for 8-bit); ``scale`` fp16 or float32
    and ``offset`` (integer values) float32 or None, both ``srows × scols``. The tensors are
    kept referenced: the kernel reads their memory."""

    def __init__(self, lib, data: torch.Tensor, nbits: int, signed: bool, scale: torch.Tensor,
                 offset: torch.Tensor | None, rows: int, cols: int, round16: bool):
        self.lib = lib
        self.tensors = (data.contiguous(), scale.contiguous(),
                        None if offset is None else offset.to(torch.float32).contiguous())
        data, scale, offset = self.tensors
        self.rows, self.cols = rows, cols
        self.struct = Weight(data.data_ptr(), rows, cols, nbits, int(signed),
                             int(scale.dtype == torch.float16), int(round16), scale.data_ptr(),
                             None if offset is None else offset.data_ptr(),
                             scale.shape[0], scale.shape[1])
        self.pointer = ctypes.byref(self.struct)

    def decode_rows(self, start: int, stop: int, out: torch.Tensor) -> torch.Tensor:
        """Rows ``[start, stop)`` decoded into ``out`` (float32, contiguous, at least
        ``(stop − start) · cols`` values); the ``(stop − start, cols)`` view of it."""
        count = (stop - start) * self.cols
        if out.dtype != torch.float32 or not out.is_contiguous() or out.numel() < count:
            raise ValueError("decode_rows needs a contiguous float32 buffer large enough")
        self.lib.cmlc_decode_rows(self.pointer, start, stop, out.data_ptr())
        return out[:count].view(stop - start, self.cols)

    def linear(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x · weightᵀ (+ bias)`` for float32 ``x`` of shape ``(..., cols)``."""
        if x.shape[-1] != self.cols:
            raise ValueError(f"linear: x has {x.shape[-1]} columns, the weight {self.cols}")
        flat = x.reshape(-1, self.cols).contiguous()
        if bias is not None:
            bias = bias.to(torch.float32).expand(self.rows).contiguous()
        out = torch.empty(flat.shape[0], self.rows)
        scratch = torch.empty(self.cols)
        self.lib.cmlc_linear(self.pointer, flat.data_ptr(), flat.shape[0],
                             None if bias is None else bias.data_ptr(), out.data_ptr(),
                             scratch.data_ptr())
        return out.reshape(*x.shape[:-1], self.rows)


def rounder():
    """A function rounding a float32 tensor to fp16 values (a new float32 tensor): one pass of
    the kernel for a contiguous tensor, else ``.to(float16).to(float32)`` (the same values).
    The kernel is looked up once, here."""
    lib = library()
    if lib is None:
        return round_with_torch
    function, empty_like = lib.cmlc_round_to_half, torch.empty_like

    def round_to_half(values: torch.Tensor) -> torch.Tensor:
        if values.dtype != torch.float32 or not values.is_contiguous():
            return round_with_torch(values)
        out = empty_like(values)
        function(values.data_ptr(), out.data_ptr(), values.numel())
        return out

    return round_to_half


def round_with_torch(values: torch.Tensor) -> torch.Tensor:
    """``values`` rounded to fp16 values by torch's casts."""
    return values.to(torch.float16).to(torch.float32)

