"""Compare a Core ML model with its saved source model, for CI without a test suite.

The source is a TorchScript file (``torch.jit.save``), an ExportedProgram (``.pt2``), or a
TensorFlow/Keras file or SavedModel directory. Exit code 0 when every output meets the
tolerance, 1 when one does not, 2 when the check cannot run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_backend_arguments

TOLERANCE_FLAGS = ("atol", "rtol", "mismatch_ratio", "min_snr_db", "min_psnr_db", "min_cosine",
                   "min_top1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="TorchScript .pt, ExportedProgram .pt2, Keras "
                                       ".h5/.keras or a SavedModel directory")
    parser.add_argument("model", help="the converted .mlpackage or .mlmodel")
    inputs = parser.add_mutually_exclusive_group()
    inputs.add_argument("--inputs", metavar="NPZ", help="input arrays (.npz)")
    inputs.add_argument("--images", metavar="PATH", help="image file, directory or glob")
    parser.add_argument("--samples", type=int, default=8, help="random samples (default 8)")
    parser.add_argument("--resize", choices=("fit", "center_crop", "fill"), default="fit")
    for flag in TOLERANCE_FLAGS:
        parser.add_argument(f"--{flag.replace('_', '-')}", type=float, dest=flag)
    parser.add_argument("--report", action="append", default=[], metavar="PATH",
                        help="write a report (.json, .md); repeatable")
    add_backend_arguments(parser)


def load_source(path: str):
    """A saved source model, loaded by its file type."""
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"source {file} does not exist")
    if file.suffix in (".pt", ".pth", ".ts", ".pt2"):
        import torch

        if file.suffix == ".pt2":
            return torch.export.load(str(file))
        return torch.jit.load(str(file), map_location="cpu").eval()
    return file  # TensorFlow/Keras paths are loaded by the TensorFlow source


def run(args: argparse.Namespace) -> int:
    from .. import EquivalenceError, Tolerance, images, tensors
    from ..check import CheckSettings, run_check
    from ..inputs import feeds
    from ..report import write_report
    from ..result import CheckError
    from ..runtimes import parse_compute_units

    tolerance = Tolerance(**{k: getattr(args, k) for k in TOLERANCE_FLAGS
                             if getattr(args, k) is not None})
    inputs = (feeds(args.inputs) if args.inputs else
              images(args.images, resize=args.resize) if args.images else
              tensors(n=args.samples))
    settings = CheckSettings(backend=args.backend,
                             compute_units=parse_compute_units(args.compute_units),
                             fp16_mode=args.fp16_mode)
    try:
        results = run_check(load_source(args.source), args.model, inputs=inputs,
                            tolerance=tolerance, name=Path(args.model).name, settings=settings)
    except (CheckError, FileNotFoundError, ValueError) as exc:
        print(f"coremlcheck compare: {exc}", file=sys.stderr)
        return 2
    checks = [dict(r.to_dict(), test="coremlcheck compare") for r in results]
    for path in args.report:
        write_report(path, checks)
    status = 0
    for result in results:
        if result.passed:
            from ..result import format_table

            print(f"{result.name}: passed on {result.platform} ({result.tolerance.describe()})")
            print(format_table(result.output_results.values()))
        else:
            print(EquivalenceError(result))
            status = 1
    return status
