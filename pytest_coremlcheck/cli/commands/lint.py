"""Lint Core ML models for deployment-target incompatibilities and shipping hazards.

Reads only the spec (and weight values for the FP16 rules), so it runs on any OS in
milliseconds per model. PATH may be an .mlpackage, an .mlmodel or a directory to search.
Settings come from [tool.coremlcheck] in the nearest pyproject.toml; options override them
(--ignore adds to the configured ignores). Exit status: 0 clean, 1 findings at or above
--fail-on (or an unreadable model), 2 usage error (including a PATH holding no model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...lint.findings import SEVERITIES
from ...lint.formats import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=".mlpackage, .mlmodel, or a directory searched for them")
    parser.add_argument("--target", help="deployment target: iOS16, macOS13, tvOS17, "
                        "watchOS10, visionOS2 or a spec version 1-10 (default: from the "
                        "config, else none)")
    parser.add_argument("--select", help="comma-separated rule ids or prefixes to report, "
                        "e.g. CML-T,CML-O001 (default: all)")
    parser.add_argument("--ignore", help="comma-separated rule ids or prefixes to leave out")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (default), json, or sarif (SARIF 2.1.0)")
    parser.add_argument("--fail-on", choices=SEVERITIES, default=None,
                        help="lowest severity that makes the exit status 1 (default: error)")
    parser.add_argument("--output", "-o", help="write the report to this file instead of "
                        "stdout")
    parser.add_argument("--config", help="pyproject.toml to read [tool.coremlcheck] from "
                        "(default: the nearest one above the working directory)")
    parser.add_argument("--no-weight-scan", action="store_true",
                        help="do not read weight blobs (FP16 rules check immediate constants "
                        "only)")
    parser.add_argument("--show-fixes", action="store_true",
                        help="text format: print each finding's fix hint")
    parser.add_argument("--explain", metavar="ID",
                        help="print the documentation of rule ID (or a prefix, or 'all') and "
                        "exit")


def run(args: argparse.Namespace) -> int:
    from ...lint.config import load_config
    from ...lint.docs import explain
    from ...lint.errors import LintUsageError
    from ...lint.formats import render
    from ...lint.runner import find_models, lint_paths

    if args.explain:
        page = explain(args.explain)
        if page is None:
            return _usage(f"no rule matches {args.explain!r}")
        sys.stdout.write(page)
        return 0
    if not args.paths:
        return _usage("give at least one PATH (or --explain ID)")
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        return _usage(f"no such file or directory: {', '.join(missing)}")
    empty = [p for p in args.paths if not find_models(Path(p))]
    if empty:
        return _usage(f"no .mlmodel or .mlpackage under {', '.join(empty)}; nothing to lint")
    try:
        config = load_config(pyproject=Path(args.config) if args.config else None)
        report = lint_paths([Path(p) for p in args.paths], config, target=args.target,
                            select=args.select, ignore=args.ignore,
                            scan_weights=False if args.no_weight_scan else None,
                            fail_on=args.fail_on)
    except LintUsageError as exc:
        return _usage(str(exc))
    options = {"show_fixes": args.show_fixes} if args.format == "text" else {}
    text = render(report, args.format, **options)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if report.failed else 0


def _usage(message: str) -> int:
    print(f"coremlcheck lint: error: {message}", file=sys.stderr)
    return 2
