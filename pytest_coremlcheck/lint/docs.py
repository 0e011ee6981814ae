"""Rule pages: the text ``coremlcheck lint --explain ID`` prints, and ``docs/rules.md``, which is
generated from the same rule metadata (``python -m pytest_coremlcheck.lint.docs > docs/rules.md``).
"""

from __future__ import annotations

import sys

from .registry import all_rules, normalize_code
from .rule import GROUPS, Rule
from .targets import MIN_OS, NEWEST_SPEC, os_name

_INTRO = """\
# coremlcheck lint rules

Generated from the rule definitions in `pytest_coremlcheck/lint/rules/` — edit those, then run
`python -m pytest_coremlcheck.lint.docs > docs/rules.md`. `coremlcheck lint --explain ID`
prints one section.

Severities: **error** — Xcode, `coremlc` or Core ML rejects the file on the chosen target (or on
every target); **warning** — it loads but is likely wrong, slow or fragile; **info** — hygiene.

Rules whose "Needs" line names an OS are *gates*: they report when the deployment target
(`--target`) is older than the feature needs, and feed the model's required minimum target. A
model that declares a lower specification version than its gates need is reported as
`CML-V004`.
"""


def render_rule(rule: Rule, heading: str = "##") -> str:
    """One rule's page in Markdown."""
    lines = [f"{heading} {rule.id} — {rule.name}", ""]
    meta = f"**Severity:** {rule.severity}"
    if rule.min_target:
        meta += f" · **Needs:** {rule.min_target}"
    if rule.supersedes:
        meta += f" · **Replaces at the same location:** {', '.join(rule.supersedes)}"
    if rule.reads_weights:
        meta += " · **Reads weight values** (skipped for blobs with `--no-weight-scan`)"
    lines += [meta, "", f"**What.** {rule.summary}", "", f"**Why.** {rule.why}", "",
              f"**Fix.** {rule.fix}", "", f"**Source.** {rule.source}", ""]
    return "\n".join(lines)


def spec_table() -> str:
    """The spec version ↔ OS table as Markdown."""
    head = "| spec | " + " | ".join(MIN_OS) + " |"
    rows = [head, "|" + "---|" * (len(MIN_OS) + 1)]
    for spec in range(1, NEWEST_SPEC + 1):
        rows.append(f"| {spec} | " + " | ".join(os_name(spec, f) for f in MIN_OS) + " |")
    return "\n".join(rows)


def render_all() -> str:
    """The whole ``docs/rules.md``."""
    rules = all_rules()
    parts = [_INTRO, "## Specification versions", "", spec_table(),
             "", "visionOS minimums before spec 10 are inferred from Core ML API availability.",
             "", "## Index", ""]
    for letter, title in GROUPS.items():
        ids = [r for r in rules.values() if r.group == letter]
        if ids:
            parts.append(f"- **{title}**: " + ", ".join(
                f"[{r.id}](#{_anchor(r)})" for r in ids))
    parts.append("")
    for letter, title in GROUPS.items():
        group = [r for r in rules.values() if r.group == letter]
        if not group:
            continue
        parts += [f"# {letter} — {title}", ""]
        parts += [render_rule(r) for r in group]
    return "\n".join(parts).rstrip() + "\n"


def _anchor(rule: Rule) -> str:
    return f"{rule.id}--{rule.name}".lower()


def explain(code: str) -> str | None:
    """The page of rule ``code`` (``CML-Q004``, ``q004``), the index for ``all``, or the pages
    of a group prefix (``CML-Q``); None if nothing matches."""
    rules = all_rules()
    normalized = normalize_code(code)
    if normalized == "CML":
        return "\n".join(f"{r.id}  {r.severity:<7}  {r.summary}" for r in rules.values()) + "\n"
    if normalized in rules:
        return render_rule(rules[normalized], heading="#")
    matches = [r for r in rules.values() if r.id.startswith(normalized)]
    if not matches:
        return None
    return "\n".join(render_rule(r, heading="#") for r in matches)


if __name__ == "__main__":
    sys.stdout.write(render_all())
