"""Compare a Core ML model with its source model, for CI without a test suite.

SOURCE is a TorchScript file (``torch.jit.save``), an ExportedProgram (``.pt2``), a Keras
``.h5``/``.keras`` file, a SavedModel directory, or ``module:callable`` (imported with the
working directory first on ``sys.path``; the callable returns the source model). Exit code 0
when a comparison ran and every output meets the tolerance, 1 when one does not, 2 when the
check cannot run (bad options, a source or model that cannot be loaded or run, a source that
calls ``sys.exit``, or no value that could be compared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_backend_arguments

TOLERANCE_FLAGS = ("atol", "rtol", "mismatch_ratio", "min_snr_db", "min_psnr_db", "min_cosine",
                   "min_top1", "min_ssim")


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """SOURCE, MODEL, the inputs and the tolerance (shared with ``coremlcheck localize``)."""
    parser.add_argument("source", help="TorchScript .pt, ExportedProgram .pt2, Keras .h5/.keras, "
                                       "a SavedModel directory, or module:callable returning "
                                       "the source model")
    parser.add_argument("model", help="the converted .mlpackage or .mlmodel")
    inputs = parser.add_mutually_exclusive_group()
    inputs.add_argument("--inputs", metavar="SPEC",
                        help="a directory, image file or glob of images; an .npz of input "
                             "arrays; random:N (N seeded random samples); or module:callable "
                             "returning inputs (e.g. images(dir, preprocess=...)). Default "
                             "random:8")
    inputs.add_argument("--images", metavar="PATH", help="same as --inputs PATH for images")
    parser.add_argument("--samples", type=int, default=8,
                        help="number of random samples when no --inputs/--images (default 8)")
    parser.add_argument("--resize", choices=("fit", "center_crop", "fill"), default="fit",
                        help="how images are resized to the model's size (default fit)")
    parser.add_argument("--tolerance", metavar="FIELDS",
                        help="e.g. 'min_snr_db=40,min_cosine=0.999' (as --coreml-tolerance); "
                             "the per-field flags below override it. Default: the converted "
                             "program's precision default")
    for flag in TOLERANCE_FLAGS:
        parser.add_argument(f"--{flag.replace('_', '-')}", type=float, dest=flag, metavar="X",
                            help=f"Tolerance field {flag}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_check_arguments(parser)
    parser.add_argument("--report", action="append", default=[], metavar="PATH",
                        help="write a report (.json, .md, .html); repeatable")
    parser.add_argument("--progress", choices=("auto", "bar", "lines", "off"), default="auto",
                        help="progress on stderr: bar (rich), lines, off; auto (default) draws "
                             "bars on a terminal and plain lines otherwise")
    parser.add_argument("--localize", choices=("failed", "all", "off"), default="failed",
                        help="localise where an ML program loses accuracy (reference executor): "
                             "failed (default), all, off; shown with the failure")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ... import EquivalenceError
    from ...check import CheckSettings, run_check
    from ...errors import CheckError
    from ...inputs.tensors import NoRandomValueError
    from ...localize.step import localise_results
    from ...report import write_report
    from ...report.failure_table import format_table
    from ...runtimes import parse_compute_units
    from ...sources.loader import load_source_spec
    from ..progress import progress_for

    try:
        tolerance, inputs = check_tolerance(args), check_inputs(args)
        with progress_for(args.progress) as progress:
            settings = CheckSettings(backend=args.backend,
                                     compute_units=parse_compute_units(args.compute_units),
                                     fp16_mode=args.fp16_mode, progress=progress,
                                     localize=args.localize, localizer=localise_results)
            results = run_check(load_source_spec(args.source, Path.cwd()), args.model,
                                inputs=inputs, tolerance=None if tolerance.is_empty()
                                else tolerance, name=Path(args.model).name, settings=settings)
    except (CheckError, OSError, ValueError) as exc:
        cause = exc if isinstance(exc, NoRandomValueError) else exc.__cause__
        message = (f"inputs: {cause.cli_message()}" if isinstance(cause, NoRandomValueError)
                   else exc)
        print(f"coremlcheck compare: {message}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        print(f"coremlcheck compare: cannot run: the source called sys.exit({exc.code!r}) while "
              "it was loaded or run", file=sys.stderr)
        return 2
    if not any(_compared(r) for r in results):
        for result in results:
            print(EquivalenceError(result))
        print(f"coremlcheck compare: cannot run: nothing was compared ({args.model} against "
              f"{args.source}: no output value is finite on both sides, or every output is "
              "empty)", file=sys.stderr)
        return 2
    status = 0
    for result in results:
        if result.passed:
            print(f"{result.name}: passed on {result.platform} ({result.tolerance.describe()})")
            print(format_table(result.output_results.values()))
        else:
            print(EquivalenceError(result))
            status = 1
    checks = [dict(r.to_dict(), test="coremlcheck compare") for r in results]
    for path in args.report:
        try:
            write_report(path, checks)
        except (OSError, ValueError) as exc:
            print(f"coremlcheck compare: report {path} not written: {exc}", file=sys.stderr)
            status = 2
    return status


def check_tolerance(args: argparse.Namespace):
    """The Tolerance of ``--tolerance`` and the per-field flags (empty when none is given)."""
    from ... import Tolerance

    return Tolerance.layered(
        Tolerance.parse(args.tolerance, origin="--tolerance") if args.tolerance else None,
        *[Tolerance.from_mapping({k: getattr(args, k)}, origin=f"--{k.replace('_', '-')}")
          for k in TOLERANCE_FLAGS if getattr(args, k) is not None])


def check_inputs(args: argparse.Namespace):
    """The inputs of ``--inputs``/``--images``, else ``--samples`` random samples."""
    from ... import tensors
    from ...inputs.spec import inputs_from_spec

    spec = args.inputs or args.images
    return inputs_from_spec(spec, resize=args.resize) if spec else tensors(n=args.samples)


def _compared(result) -> int:
    """Values compared over every output of a result."""
    return sum(r.metrics.elements for r in result.output_results.values()
               if r.metrics is not None)
