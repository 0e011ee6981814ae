"""Helpers shared by subcommands: backend options, opening a runtime, value summaries."""

from __future__ import annotations

import argparse

import numpy as np

from ...runtimes import BACKENDS, open_runtimes, parse_compute_units, resolve_backend


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="coreml (macOS), reference (portable executor) or auto (default)")
    parser.add_argument("--compute-units", default="ALL",
                        help="Core ML compute units: ALL, CPU_ONLY, CPU_AND_GPU, CPU_AND_NE")
    parser.add_argument("--fp16-mode", choices=("typed", "fp16-accumulate",
                                                  "device-risk", "fp32"),
                        default="typed",
                        help="reference executor FP16 mode (default typed)")


def open_runtime(args: argparse.Namespace, model, loaded):
    backend = resolve_backend(args.backend)
    units = parse_compute_units(args.compute_units)[:1]
    return open_runtimes(model, loaded, backend, units, args.fp16_mode)[0]


def summarize(value) -> str:
    """One line about an output value: shape, dtype and range, or the value itself."""
    if isinstance(value, dict):
        top = sorted(value.items(), key=lambda kv: -kv[1])[:3]
        return "{" + ", ".join(f"{k!r}: {v:.4g}" for k, v in top) + (", …}" if len(value) > 3
                                                                     else "}")
    if hasattr(value, "size") and hasattr(value, "mode"):  # PIL image
        return f"image {value.size[0]}x{value.size[1]} {value.mode}"
    array = np.asarray(value)
    if array.dtype.kind in "biuf" and array.size:
        return (f"{array.dtype}{list(array.shape)} min={array.min():.4g} max={array.max():.4g} "
                f"mean={array.astype(np.float64).mean():.4g}")
    return repr(value)
