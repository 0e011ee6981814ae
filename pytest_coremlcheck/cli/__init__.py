"""The ``coremlcheck`` command: one subcommand per module of ``commands/``, registered in
``SUBCOMMANDS``; ``progress`` shows a check's progress."""

from __future__ import annotations

import argparse
import importlib
import re
import sys

#: subcommand -> module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS = {
    "compare": "pytest_coremlcheck.cli.commands.compare",
    "report": "pytest_coremlcheck.cli.commands.report",
    "predict": "pytest_coremlcheck.cli.commands.predict",
    "info": "pytest_coremlcheck.cli.commands.info",
    "lint": "pytest_coremlcheck.cli.commands.lint",
    "executor-coverage": "pytest_coremlcheck.cli.commands.executor_coverage",
    "update": "pytest_coremlcheck.cli.commands.update",
    "localize": "pytest_coremlcheck.cli.commands.localize",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coremlcheck",
        description="Check converted Core ML models: run, compare, lint.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        doc = _plain(module.__doc__)
        sub_parser = sub.add_parser(name, help=_first_sentence(doc), description=doc)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def _plain(docstring: str) -> str:
    """A module docstring for --help: reStructuredText ``code`` marks dropped."""
    return re.sub(r"``([^`]*)``", r"\1", docstring.strip())


def _first_sentence(text: str) -> str:
    """The first sentence of ``text``, whole (help summaries are never cut mid-sentence)."""
    return re.split(r"(?<=\.)\s", " ".join(text.split()), maxsplit=1)[0]


def _version() -> str:
    """The installed distribution's version (the package's own when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-coremlcheck")
    except PackageNotFoundError:
        from .. import __version__
        return __version__


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; errors about the user's files or options exit 2 with one line.
    coremltools' start-up notices are held back (``report.notices``)."""
    from ..report.notices import hold_back

    hold_back()
    from ..errors import CheckError, RuntimeUnavailable
    from ..reference.errors import ReferenceError_

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (ReferenceError_, CheckError, RuntimeUnavailable, OSError, ValueError) as exc:
        print(f"coremlcheck {args.command}: {exc}", file=sys.stderr)
        return 2
