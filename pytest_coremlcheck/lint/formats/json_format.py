"""JSON output for tools.

```
{"tool": {"name": "coremlcheck", "version": ...}, "target": "iOS16", "fail_on": "error",
 "failed": true, "counts": {"error": 1, "warning": 0, "info": 2},
 "findings": [{"id", "severity", "message", "path", "location", "fix"}, ...],
 "models": [{"path", "model_type", "declared_spec_version", "required_target", "required_by",
             ..., "findings": [...]}, ...]}
```
"""

from __future__ import annotations

import json

from .report import LintReport


def tool_version() -> str:
    try:
        from importlib.metadata import version

        return version("pytest-coremlcheck")
    except Exception:  # not installed (running from a checkout)
        return "0"


def to_dict(report: LintReport) -> dict:
    return {
        "tool": {"name": "coremlcheck", "version": tool_version()},
        "target": report.target,
        "fail_on": report.fail_on,
        "failed": report.failed,
        "counts": report.counts(),
        "findings": [f.to_dict() for f in report.findings],
        "models": [r.to_dict() for r in report.results],
    }


def render(report: LintReport) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"
