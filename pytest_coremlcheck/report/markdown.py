"""Markdown report: the JSON report's content as tables."""

from __future__ import annotations

from pathlib import Path

from .json_report import METRIC_DOCS

COLUMNS = ("max_abs", "rmse", "snr_db", "psnr_db", "cosine", "top1")


def render(checks: list[dict], env: dict[str, str]) -> str:
    passed = sum(1 for c in checks if c.get("passed"))
    lines = [
        "# Core ML equivalence report",
        "",
        f"{len(checks)} check(s): {passed} passed, {len(checks) - passed} failed.",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        "| test | output | backend | platform | " + " | ".join(COLUMNS) + " | tolerance | result |",
        "|---|---|---|---|" + "---|" * len(COLUMNS) + "---|---|",
    ]
    for check in checks:
        for name, out in check.get("outputs", {}).items():
            cells = [_cell(out.get(c)) for c in COLUMNS]
            tol = ", ".join(f"{k}={v}" for k, v in out.get("tolerance", {}).items()
                            if k != "per_output")
            lines.append(
                f"| {_escape(check.get('test', check['name']))} | {_escape(name)} | "
                f"{check['backend']} | {_escape(check['platform'])} | " + " | ".join(cells)
                + f" | {tol} | {'pass' if out.get('passed') else '**FAIL**'} |"
            )
        if not check.get("outputs"):
            lines.append(f"| {_escape(check.get('test', check['name']))} | - | "
                         f"{check.get('backend', '-')} | {_escape(check.get('platform', '-'))} | "
                         + " | ".join("-" for _ in COLUMNS) + " | - | **ERROR** |")
    failures = [(c, f) for c in checks for f in c.get("failures", [])]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- `{_escape(c.get('test', c['name']))}`: {_escape(f)}" for c, f in failures]
    lines += ["", "## Metrics", ""]
    lines += [f"- `{k}`: {v}" for k, v in METRIC_DOCS.items()]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, checks: list[dict], env: dict[str, str]) -> None:
    path.write_text(render(checks, env))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
