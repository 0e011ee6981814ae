"""Lint many paths for the command line and the pytest plugin: find model files under
directories, lint each, and turn unreadable files into ``CML-V000`` findings."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .config import LintConfig
from .engine import lint
from .errors import InvalidModelError
from .findings import Finding
from .formats.report import LintReport
from .registry import all_rules, expand_codes, is_selected

MODEL_SUFFIXES = (".mlmodel", ".mlpackage")


def find_models(path: Path) -> list[Path]:
    """``path`` itself if it is a model (an ``.mlpackage`` directory or a file), else every
    ``.mlmodel``/``.mlpackage`` below it (not descending into packages), sorted."""
    if path.is_file() or path.suffix == ".mlpackage":
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in list(dirs):
            if name.endswith(".mlpackage"):
                found.append(Path(root) / name)
                dirs.remove(name)
            elif name.startswith(".") or name.endswith(".mlmodelc"):
                dirs.remove(name)
        found += [Path(root) / f for f in sorted(files) if f.endswith(".mlmodel")]
    return sorted(found)


def unreadable_finding(path: str, error: InvalidModelError) -> Finding:
    rule = all_rules()["CML-V000"]
    return Finding(rule.id, rule.severity, str(error), path, "", rule.fix)


def lint_paths(paths: Iterable[Path], config: LintConfig, *, target=None, select=None,
               ignore=None, scan_weights: bool | None = None,
               fail_on: str | None = None) -> LintReport:
    """Lint every model under ``paths`` into one report (``fail_on`` defaults to the
    config's)."""
    report = LintReport(target=str(target or config.target or "") or None,
                        fail_on=fail_on or config.fail_on)
    select_codes = expand_codes(select) if select is not None else list(config.select)
    ignore_codes = list(config.ignore) + expand_codes(ignore)
    for path in paths:
        for model_path in find_models(Path(path)):
            try:
                report.results.append(lint(model_path, target=target, select=select,
                                           ignore=ignore, config=config,
                                           scan_weights=scan_weights))
            except InvalidModelError as exc:
                finding = unreadable_finding(str(model_path), exc)
                ignored = ignore_codes + list(config.ignored_for(str(model_path)))
                if is_selected(finding.id, select_codes, ignored):
                    report.unreadable.append(finding)
    return report
