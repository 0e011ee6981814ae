"""Markdown report: the JSON report's content as tables.

Every string that comes from a model, an output, a test or user code goes through ``escape``:
it cannot end a table cell, start a code span, emphasis, link or HTML tag, or break a line."""

from __future__ import annotations

from pathlib import Path

from ..compare import metric_table
from .json_report import METRIC_DOCS
from .labels import check_label

COLUMNS = metric_table.NAMES


def render(checks: list[dict], env: dict[str, str], report_dir: Path | None = None) -> str:
    """The report as Markdown; picture links are relative to ``report_dir``."""
    passed = sum(1 for c in checks if c.get("passed"))
    lines = [
        "# Core ML equivalence report",
        "",
        f"{len(checks)} check(s): {passed} passed, {len(checks) - passed} failed.",
        "",
        "Environment: " + ", ".join(escape(f"{k} {v}") for k, v in env.items()),
        "",
        "| test | output | backend | platform | " + " | ".join(COLUMNS) + " | tolerance | result |",
        "|---|---|---|---|" + "---|" * len(COLUMNS) + "---|---|",
    ]
    for check in checks:
        for name, out in check.get("outputs", {}).items():
            cells = [metric_table.show(c, out.get(c)) for c in COLUMNS]
            tol = ", ".join(f"{k}={v}" for k, v in out.get("tolerance", {}).items()
                            if k != "per_output")
            lines.append(
                f"| {escape(check_label(check))} | {escape(name)} | "
                f"{escape(check['backend'])} | {escape(check['platform'])} | " + " | ".join(cells)
                + f" | {escape(tol)} | {'pass' if out.get('passed') else '**FAIL**'} |"
            )
        if not check.get("outputs"):
            lines.append(f"| {escape(check_label(check))} | - | "
                         f"{escape(check.get('backend', '-'))} | "
                         f"{escape(check.get('platform', '-'))} | "
                         + " | ".join("-" for _ in COLUMNS) + " | - | **ERROR** |")
    lines += _details(checks)
    lines += _budget(checks)
    lines += _localisations(checks)
    pictures = [(c, name, out["artifacts"]) for c in checks
                for name, out in c.get("outputs", {}).items() if out.get("artifacts")]
    if pictures:
        lines += ["", "## Image outputs (source, converted, \\|difference\\|)", ""]
        for check, name, paths in pictures:
            lines.append(f"**{escape(check_label(check))}** {escape(name)}: "
                         + " ".join(f"![{escape(name)} {_kind(p)}](<{_relative(p, report_dir)}>)"
                                    for p in paths))
    failures = [(c, f) for c in checks for f in c.get("failures", [])]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- {escape(c.get('test', c['name']))}: {escape(f)}" for c, f in failures]
    lines += ["", "## Metrics", ""]
    lines += [f"- `{k}`: {v}" for k, v in METRIC_DOCS.items()]
    return "\n".join(lines) + "\n"


def _kind(picture: str) -> str:
    """source, converted or diff: the last part of a kept picture's name."""
    return escape(Path(picture).stem.rsplit("-", 1)[-1])


def _relative(picture: str, report_dir: Path | None) -> str:
    """A picture path relative to the report's directory, when it lies below it."""
    if report_dir is None:
        return picture
    try:
        return str(Path(picture).resolve().relative_to(report_dir.resolve()))
    except ValueError:
        return picture


def _details(checks: list[dict]) -> list[str]:
    """Per check: what ran against what, and the notes (layouts, fallbacks, cache, stages)."""
    lines = ["", "## Checks", ""]
    for check in checks:
        lines.append(f"- **{escape(check.get('test', check['name']))}** "
                     f"({escape(check['name'])}): model {escape(check.get('model', '-'))}; "
                     f"source {escape(check.get('source', '-'))}; "
                     f"inputs {escape(check.get('inputs', '-'))}")
        lines += [f"  - {escape(note)}" for note in check.get("notes", [])]
        lines += [f"  - hazard: {escape(h['message'])}" for h in check.get("hazards", [])]
        lines += [f"  - {escape(gate)}: {escape(outcome)}"
                  for gate, outcome in (check.get("gates") or {}).items()]
        lines += [f"  - against the golden output {escape(name)}: SNR "
                  f"{metric_table.show('snr_db', m.get('snr_db'))} dB, cosine "
                  f"{metric_table.show('cosine', m.get('cosine'))}, max_abs "
                  f"{metric_table.show('max_abs', m.get('max_abs'))}"
                  for name, m in (check.get("golden_outputs") or {}).items()]
    return lines


def _budget(checks: list[dict]) -> list[str]:
    """The error budget of variant chains: each step's metrics against the source and
    against the previous step, per output."""
    rows = [c for c in checks if c.get("variant")]
    if not rows:
        return []
    lines = ["", "## Error budget (variant chains)", "",
             "| test | variant | step | output | SNR vs source (dB) | SNR vs previous step (dB) "
             "| cosine vs source | result |", "|---|---|---|---|---:|---:|---:|---|"]
    for check in rows:
        for name, out in check.get("outputs", {}).items():
            step = check.get("step_outputs", {}).get(name, {})
            lines.append(
                f"| {escape(check.get('test', check['name']))} | {escape(check['variant'])} | "
                f"{escape(check.get('step') or '-')} | {escape(name)} | "
                f"{metric_table.show('snr_db', out.get('snr_db'))} | "
                f"{metric_table.show('snr_db', step.get('snr_db'))} | "
                f"{metric_table.show('cosine', out.get('cosine'))} | "
                f"{'pass' if out.get('passed') else '**FAIL**'} |")
    return lines


def _localisations(checks: list[dict]) -> list[str]:
    """Per localised check: the summary (top suspect, verified fix), the fix's code, the cost."""
    rows = [c for c in checks if c.get("localisation")]
    if not rows:
        return []
    lines = ["", "## Localisation", ""]
    for check in rows:
        loc = check["localisation"]
        timing = loc.get("timing") or {}
        lines.append(f"- **{escape(check.get('test', check['name']))}**: "
                     f"{escape(loc.get('summary', ''))} (cost: "
                     f"{timing.get('seconds', 0.0):.1f} s, {timing.get('extra_runs', 0)} "
                     "extra runs)")
        fix = loc.get("verified_fix")
        if fix:
            lines.append(f"  - fix {escape(fix.get('message', ''))}")
    return lines



#: Markdown punctuation that could start a code span, emphasis, link, heading or table cell
_MARKDOWN = set("\\`*_[]|#!~")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text) -> str:
    """``text`` as literal Markdown text on one line: markup characters backslash-escaped,
    ``& < >`` as HTML entities, line breaks and tabs as spaces."""
    out = []
    for char in str(text):
        if char in _MARKDOWN:
            out.append("\\" + char)
        elif char in _HTML:
            out.append(_HTML[char])
        elif char in "\r\n\t":
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)
