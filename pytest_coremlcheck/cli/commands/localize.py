"""Localise where a converted Core ML model loses accuracy against its source.

SOURCE, MODEL, ``--inputs`` and the tolerance are given as to ``coremlcheck compare``. The
model is run by the reference executor, recorded op by op against its fp32 run, the ops are
ranked by the error they add, and fixes are re-converted and re-checked before they are
called verified. Prints the localisation (``--json``: its JSON). Exit code 0 when the
localisation ran (whatever it found), 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...errors import InternalError, internal_error, is_internal
from .compare import add_check_arguments, check_inputs, check_tolerance


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_check_arguments(parser)
    parser.add_argument("--fp16-mode", choices=("typed", "fp16-accumulate", "device-risk"),
                        default="typed", help="how the fp16 program is run (default typed)")
    parser.add_argument("--json", action="store_true",
                        help="print the localisation as JSON (ranking, every op, fixes)")


def run(args: argparse.Namespace) -> int:
    from ...coreml.loading import load_model
    from ...localize import localize
    from ...localize.step import reconversion
    from ...report.json_report import json_default
    from ...sources.loader import load_source_spec

    try:
        tolerance = check_tolerance(args)
        found = localize(load_source_spec(args.source, Path.cwd()), args.model,
                         inputs=check_inputs(args),
                         convert=reconversion(load_model(args.model).spec),
                         tolerance=None if tolerance.is_empty() else tolerance,
                         fp16_mode=args.fp16_mode)
    except InternalError:
        raise
    except Exception as exc:  # the user's models, files or inputs stop it: exit 2, named
        if is_internal(exc):
            raise internal_error("coremlcheck localize", exc) from exc
        print(f"coremlcheck localize: could not run: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        print(f"coremlcheck localize: could not run: the source called sys.exit({exc.code!r})",
              file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found.to_dict(), indent=2, default=json_default))
    else:
        print(found.report())
    return 0
