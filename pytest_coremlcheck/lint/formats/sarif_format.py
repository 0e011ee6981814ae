"""SARIF 2.1.0 output, in the subset GitHub code scanning reads.

Every rule is described in ``tool.driver.rules`` (short and full description, help text, default
level). A result points at the model's spec file (for an ``.mlpackage`` the ``model.mlmodel``
inside it, since code scanning annotates files) with ``region.startLine`` 1, names the location
inside the model as a logical location, and carries a ``partialFingerprints`` entry computed
from rule, path and location so alerts stay stable across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..docs import render_rule
from ..registry import all_rules
from .json_format import tool_version
from .report import LintReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _artifact_uri(path: str) -> str:
    target = Path(path)
    if target.is_dir():
        inner = target / "Data" / "com.apple.CoreML" / "model.mlmodel"
        target = inner if inner.exists() else target
    try:
        relative = os.path.relpath(target)
    except ValueError:  # another drive on Windows
        relative = str(target)
    if relative.startswith(".."):
        return target.resolve().as_uri()
    return Path(relative).as_posix()


def _fingerprint(finding) -> str:
    text = f"{finding.id}\0{finding.path}\0{finding.location}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _rule_descriptor(rule) -> dict:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": f"{rule.why}\n\nFix: {rule.fix}\n\nSource: {rule.source}",
                 "markdown": render_rule(rule, heading="###")},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": ["coreml", rule.group]},
    }


def to_dict(report: LintReport) -> dict:
    rules = all_rules()
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    results = []
    for finding in report.findings:
        location = {
            "physicalLocation": {
                "artifactLocation": {"uri": _artifact_uri(finding.path)},
                "region": {"startLine": 1},
            },
        }
        if finding.location:
            location["logicalLocations"] = [{"fullyQualifiedName": finding.location,
                                             "kind": "member"}]
        message = finding.message + (f"\nFix: {finding.fix}" if finding.fix else "")
        result = {
            "ruleId": finding.id,
            "level": _LEVEL[finding.severity],
            "message": {"text": message},
            "locations": [location],
            "partialFingerprints": {"primaryLocationLineHash": _fingerprint(finding)},
        }
        if finding.id in index:
            result["ruleIndex"] = index[finding.id]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "coremlcheck", "version": tool_version(),
                                "rules": [_rule_descriptor(r) for r in rules.values()]}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def render(report: LintReport) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"
