"""Re-render a stored JSON report (``--coreml-report=x.json``) as Markdown or HTML, or compare it
with a baseline.

The rendered report keeps the environment recorded in the JSON file (the run's versions and
OS, not this machine's). Without ``--output`` it goes to stdout. With ``--baseline`` the stored
metrics are compared with a baseline file (written by ``--coreml-baseline-update``, or another
JSON report) and every regression beyond ``--regression`` is listed; exit code 1 when there
is one, 2 when a file cannot be used or no check could be compared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = {"md": ".md", "html": ".html"}
REQUIRED = ("name", "passed", "backend", "platform", "outputs")


class ReportFileError(ValueError):
    """A file that is not a readable coremlcheck JSON report."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ...gates.baseline import DEFAULT_LIMITS

    parser.add_argument("file", help="a JSON report written by --coreml-report=PATH.json or "
                                     "coremlcheck compare --report PATH.json")
    parser.add_argument("--format", choices=tuple(FORMATS), default=None,
                        help="md or html (default: the --output suffix, else md)")
    parser.add_argument("--output", metavar="PATH",
                        help="write the report here (default: stdout)")
    parser.add_argument("--baseline", metavar="FILE",
                        help="compare with a baseline file (--coreml-baseline-update) or another "
                             "JSON report; exit 1 on a regression. Renders the report only with "
                             "--format/--output")
    parser.add_argument("--regression", metavar="LIMITS", default=DEFAULT_LIMITS,
                        help="allowed change per metric, new - baseline (as --coreml-regression; "
                             f"default {DEFAULT_LIMITS})")


def load_report(path: str | Path) -> dict:
    """A stored JSON report; ReportFileError names the file and what was expected."""
    from ...report.json_report import SCHEMA_VERSION
    from ...store.files import read_json

    path = Path(path)
    expected = "a coremlcheck JSON report (written by --coreml-report=PATH.json)"
    try:
        data = read_json(path, what=str(path), expected=expected, error=ReportFileError)
    except FileNotFoundError:
        raise ReportFileError(f"{path}: no such file") from None
    if not isinstance(data, dict) or "schema_version" not in data or "checks" not in data:
        raise ReportFileError(f"{path}: not a coremlcheck report (no schema_version and checks); "
                              f"expected {expected}")
    version = data["schema_version"]
    if not isinstance(version, int) or version < 1:
        raise ReportFileError(f"{path}: schema_version {version!r}, expected {SCHEMA_VERSION}")
    if version > SCHEMA_VERSION:
        raise ReportFileError(f"{path}: schema_version {version} is newer than this "
                              f"pytest-coremlcheck reads ({SCHEMA_VERSION}); upgrade it")
    checks = data["checks"]
    if not isinstance(checks, list):
        raise ReportFileError(f"{path}: 'checks' must be a list of check objects")
    for index, check in enumerate(checks):
        missing = [k for k in REQUIRED if not isinstance(check, dict) or k not in check]
        if missing:
            raise ReportFileError(f"{path}: checks[{index}] lacks {', '.join(missing)}")
    if not isinstance(data.get("environment", {}), dict):
        raise ReportFileError(f"{path}: 'environment' must be an object")
    return data


def run(args: argparse.Namespace) -> int:
    data = load_report(args.file)
    status = 0
    if args.baseline:
        status = _compare_with_baseline(data["checks"], args.baseline, args.regression)
    if not args.baseline or args.format or args.output:
        _render(data, args.format, args.output)
    return status


def _render(data: dict, fmt: str | None, output: str | None) -> None:
    from ...report import renderer, write_atomic

    suffix = FORMATS[fmt] if fmt else (Path(output).suffix.lower() if output else ".md")
    if output and fmt and Path(output).suffix.lower() != suffix:
        raise ValueError(f"--output {output}: suffix does not match --format {fmt} ({suffix})")
    if suffix not in FORMATS.values():
        raise ValueError(f"--output {output}: unknown format {suffix!r}; expected .md or .html")
    checks, env = data["checks"], data.get("environment", {})
    if output is None:
        sys.stdout.write(renderer(suffix)(checks, env, None))
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, renderer(suffix)(checks, env, path.parent))
    print(f"report written to {path}", file=sys.stderr)


def _compare_with_baseline(checks: list[dict], baseline_path: str, limits_text: str) -> int:
    """Print each regression and each check not compared; 1 when any regression, or when no
    check could be compared (with a one-line reason)."""
    from ...gates.baseline import COMPARED, check_id, parse_limits

    limits = parse_limits(limits_text)
    baseline = _baseline(baseline_path)
    regressions, skipped = [], []
    for check in checks:
        state = baseline.status(check)
        if state.kind != COMPARED:
            skipped.append(f"  {check_id(check)}: {state.reason}")
        regressions += baseline.compare(check, limits)
    for regression in regressions:
        print(regression.message)
    if skipped:
        print("not compared:")
        print("\n".join(skipped))
    compared = len(checks) - len(skipped)
    print(f"{compared} check(s) compared with {baseline_path} "
          f"({', '.join(f'{k}:{v:+g}' for k, v in limits.items())}): "
          f"{len(regressions)} regression(s)")
    if regressions:
        return 1
    if not compared:
        print(f"coremlcheck report: nothing was compared: none of the {len(checks)} check(s) in "
              f"the report has an entry on the same backend in {baseline_path}; nothing was "
              "gated", file=sys.stderr)
        return 2
    return 0


def _baseline(path: str):
    """A baseline file, or another JSON report read as one."""
    from ...gates.baseline import Baseline, BaselineError, load_baseline

    try:
        return load_baseline(path)
    except BaselineError as baseline_error:
        try:
            report = load_report(path)
        except ReportFileError:
            raise baseline_error from None
        return Baseline().updated(report["checks"])
