"""Show which MIL ops the reference executor implements, per opset version (iOS15–iOS18).

The op list is read from the installed coremltools' MIL op registry. An op's definition
belongs to the opset in which it appeared (``ops.defs.iOS17`` -> iOS17); a deployment target
uses the newest definition at or below it. In the text table, ``ok`` / ``MISSING`` give the
state of the definition in effect at that target, ``*`` marks where a new definition
appears, ``-`` means the op does not exist at that target. Exit status: 0, or 1 with
``--strict`` when any definition is unimplemented.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="output format (default: text)")
    parser.add_argument("--missing-only", action="store_true",
                        help="list only ops with at least one unimplemented definition")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when any op definition is unimplemented")


def coverage() -> dict:
    """Op type -> target opset -> {defined_in, new, implemented, random}, plus totals."""
    from coremltools.converters.mil._deployment_compatibility import AvailableTarget
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    from ...reference.mil import ops as _ops  # noqa: F401  (registers the implementations)
    from ...reference.mil.registry import OPSETS, implemented, is_random, opset_of

    table: dict[str, dict[str, dict]] = {}
    for op_type in sorted(SSAOpRegistry.core_ops):
        by_target = SSAOpRegistry.core_ops[op_type]
        row: dict[str, dict] = {}
        for opset in OPSETS:
            cls = by_target.get(getattr(AvailableTarget, opset))
            if cls is None:
                continue
            defined_in = opset_of(cls)
            row[opset] = {
                "defined_in": defined_in,
                "new": defined_in == opset,
                "implemented": implemented(op_type, defined_in),
                "random": is_random(op_type),
            }
        if row:
            table[op_type] = row
    definitions = {(op, cell["defined_in"]): cell["implemented"]
                   for op, row in table.items() for cell in row.values()}
    missing = sorted(f"{op} ({version})" for (op, version), ok in definitions.items() if not ok)
    return {
        "opsets": list(OPSETS),
        "ops": table,
        "op_types": len(table),
        "definitions": len(definitions),
        "implemented": sum(definitions.values()),
        "missing": missing,
    }


def _text(report: dict, missing_only: bool) -> str:
    opsets = report["opsets"]
    rows = []
    for op_type, row in report["ops"].items():
        if missing_only and all(cell["implemented"] for cell in row.values()):
            continue
        cells = []
        for opset in opsets:
            cell = row.get(opset)
            if cell is None:
                cells.append("-")
            else:
                mark = "ok" if cell["implemented"] else "MISSING"
                cells.append(mark + ("*" if cell["new"] else ""))
        random = any(cell["random"] for cell in row.values())
        rows.append((op_type + (" (random)" if random else ""), cells))
    width = max([len(name) for name, _ in rows] + [len("op")]) + 2
    lines = ["op".ljust(width) + "".join(o.ljust(10) for o in opsets)]
    lines += [name.ljust(width) + "".join(c.ljust(10) for c in cells) for name, cells in rows]
    lines.append("")
    lines.append(f"{report['definitions']} op definitions ({report['op_types']} op types): "
                 f"{report['implemented']} implemented, {len(report['missing'])} missing"
                 + (f": {', '.join(report['missing'])}" if report["missing"] else ""))
    lines.append("* = a new definition of the op appears in this opset")
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    report = coverage()
    if args.missing_only:
        report_out = dict(report)
        report_out["ops"] = {op: row for op, row in report["ops"].items()
                             if not all(c["implemented"] for c in row.values())}
    else:
        report_out = report
    if args.format == "json":
        sys.stdout.write(json.dumps(report_out, indent=2) + "\n")
    else:
        sys.stdout.write(_text(report, args.missing_only) + "\n")
    return 1 if args.strict and report["missing"] else 0
