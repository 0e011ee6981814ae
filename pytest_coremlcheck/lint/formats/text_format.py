"""Text output: ``path: CML-T001 error: message`` per finding, then one line per model with its
required target, then a count."""

from __future__ import annotations

from .report import LintReport


def finding_lines(findings, show_fixes: bool = False) -> list[str]:
    """One line per finding (plus an indented ``fix:`` line with ``show_fixes``)."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.path}: {finding.id} {finding.severity}: {finding.message}")
        if show_fixes and finding.fix:
            lines.append(f"    fix: {finding.fix}")
    return lines


def summary_line(result) -> str:
    """``path: needs iOS17 (spec 8) because of op 'quantize' (q) [CML-Q002]; declares spec 8``."""
    reason = (f" because of {result.required_reason} [{result.required_by}]"
              if result.required_by else "")
    line = (f"{result.path}: needs {result.required_target} (spec {result.required_spec})"
            f"{reason}; declares spec {result.declared_spec_version}")
    if result.target:
        line += f"; target {result.target} (spec {result.target_spec})"
    return line


def render(report: LintReport, show_fixes: bool = False, summary: bool = True) -> str:
    lines = finding_lines(report.unreadable, show_fixes)
    for result in report.results:
        lines += finding_lines(result.findings, show_fixes)
    if summary:
        if lines:
            lines.append("")
        lines += [summary_line(result) for result in report.results]
        counts = report.counts()
        models = len(report.results) + len(report.unreadable)
        total = ", ".join(f"{n} {s}" for s, n in counts.items())
        verdict = (f"fails at --fail-on {report.fail_on}" if report.failed
                   else f"passes at --fail-on {report.fail_on}")
        lines.append(f"{models} model(s): {total}; {verdict}")
    return "\n".join(lines) + "\n"
