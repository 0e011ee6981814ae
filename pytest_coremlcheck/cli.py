"""The ``coremlcheck`` command: one subcommand per module, registered in ``SUBCOMMANDS``."""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS = {
    "predict": "pytest_coremlcheck.commands.predict",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coremlcheck",
        description="Check converted Core ML models: run, compare, lint.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0],
                                    description=module.__doc__)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
