"""pytest integration of the spec linter.

* Options ``--coreml-target`` (ini ``coreml_target``) and ``--coreml-lint-fail-on`` (ini
  ``coreml_lint_fail_on``, default ``error``); both fall back to ``[tool.coremlcheck]`` in
  ``pyproject.toml`` (``target``, ``fail-on``), which also supplies select/ignore/per-path
  ignores.
* ``findings_for_check(config, model)`` lints a model a check loaded or built; the
  ``coreml_check`` fixture fails the check on the failing findings.
* Every model matched by the ini ``coreml_lint_paths`` globs (relative to the rootdir;
  ``.mlpackage`` directories count as files) becomes a test item ``<path>::coreml-lint``, so
  ``pytest`` alone gates a repository of models. With explicit path arguments only models
  under those paths are collected.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from .config import LintConfig, load_config
from .errors import InvalidModelError, LintUsageError
from .findings import SEVERITIES, Finding, severity_at_least

ITEM_NAME = "coreml-lint"
_SETTINGS = pytest.StashKey["_LintSettings"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("coremlcheck-lint", "Core ML spec linter")
    group.addoption("--coreml-target", dest="coreml_target", default=None,
                    help="deployment target models are linted against (iOS16, macOS13, "
                         "spec version…); default: ini coreml_target, else "
                         "[tool.coremlcheck] target")
    group.addoption("--coreml-lint-fail-on", dest="coreml_lint_fail_on", default=None,
                    choices=SEVERITIES,
                    help="lowest lint severity that fails a check or lint item (default: "
                         "error)")
    parser.addini("coreml_target", "deployment target for the Core ML spec linter",
                  default="")
    parser.addini("coreml_lint_fail_on", "lowest lint severity that fails (error, warning, "
                  "info)", default="")
    parser.addini("coreml_lint_paths", "globs of .mlmodel/.mlpackage files (relative to the "
                  "rootdir) collected as lint test items", type="linelist", default=[])


class _LintSettings:
    """Target, threshold and [tool.coremlcheck] settings, resolved once per session."""

    def __init__(self, config: pytest.Config):
        lint_config = load_config(Path(config.rootpath))
        extra = _bundle_dirs(config)
        if extra:
            lint_config = lint_config.merged(bundle_dirs=lint_config.bundle_dirs + extra)
        self.lint_config: LintConfig = lint_config
        self.target = (config.getoption("coreml_target")
                       or config.getini("coreml_target") or self.lint_config.target or None)
        fail_on = (config.getoption("coreml_lint_fail_on")
                   or config.getini("coreml_lint_fail_on") or self.lint_config.fail_on)
        if fail_on not in SEVERITIES:
            raise pytest.UsageError(f"coreml_lint_fail_on = {fail_on!r}; expected one of "
                                    f"{', '.join(SEVERITIES)}")
        self.fail_on = fail_on
        if self.target is not None:
            from .targets import parse_target

            try:
                parse_target(self.target)
            except LintUsageError as exc:
                raise pytest.UsageError(f"--coreml-target: {exc}") from None

    def lint(self, model):
        from .engine import lint

        return lint(model, target=self.target, config=self.lint_config)


def _bundle_dirs(config: pytest.Config) -> tuple[Path, ...]:
    """Directories from the main plugin's ini ``coreml_bundle_dirs`` (``name=path`` lines),
    when it is registered, so linked models are searched where the checks look for them."""
    from ..settings import parse_bundle_dirs

    try:
        lines = config.getini("coreml_bundle_dirs")
    except ValueError:  # the main plugin is not active
        return ()
    try:
        dirs = parse_bundle_dirs(lines, Path(config.rootpath))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    return tuple(Path(p) for p in (dirs or {}).values())


def _settings(config: pytest.Config) -> _LintSettings:
    if _SETTINGS not in config.stash:
        try:
            config.stash[_SETTINGS] = _LintSettings(config)
        except LintUsageError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.stash[_SETTINGS]


def pytest_configure(config: pytest.Config) -> None:
    _settings(config)
    config.pluginmanager.register(_LintSummary(config), "coremlcheck-lint-summary")


def findings_for_check(config: pytest.Config, model) -> tuple[list[Finding], list[Finding]]:
    """Lint ``model`` (path, ``MLModel`` or spec) with the session's target and settings.

    Returns every finding and those at or above ``--coreml-lint-fail-on``. Raises
    :class:`~.errors.InvalidModelError` if the model cannot be read.
    """
    settings = _settings(config)
    result = settings.lint(model)
    failing = [f for f in result.findings if severity_at_least(f.severity, settings.fail_on)]
    return list(result.findings), failing


def pytest_coremlcheck_lint_model(config: pytest.Config, model):
    """The linter's answer to the main plugin's per-check hook (see ``hookspec``)."""
    return findings_for_check(config, model)


def format_findings(findings: list[Finding]) -> str:
    """Findings as ``path: CML-T001 error: message`` lines, for failure messages."""
    from .formats.text_format import finding_lines

    return "\n".join(finding_lines(findings))


# -- lint items -----------------------------------------------------------------------------


def _glob_models(config: pytest.Config) -> list[Path]:
    root = Path(config.rootpath)
    found: set[Path] = set()
    for pattern in config.getini("coreml_lint_paths"):
        for match in glob.glob(str(root / pattern), recursive=True):
            path = Path(match)
            if path.suffix in (".mlmodel", ".mlpackage") and (path.is_file() or path.is_dir()):
                found.add(path.resolve())
    return sorted(found)


def _selected_by_args(config: pytest.Config, path: Path) -> bool:
    """With explicit path arguments, only models at or under one of them."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return True
    invocation = Path(config.invocation_params.dir)
    for arg in config.args:
        arg_path = (invocation / arg.split("::")[0]).resolve()
        if path == arg_path or arg_path in path.parents:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    for path in _glob_models(config):
        if _selected_by_args(config, path):
            model_file = CoreMLModelFile.from_parent(session, path=path)
            items.extend(model_file.collect())


class CoreMLModelFile(pytest.File):
    """A model file (or ``.mlpackage`` directory) collected for linting."""

    def collect(self):
        yield CoreMLLintItem.from_parent(self, name=ITEM_NAME)


class LintFailure(Exception):
    """Findings at or above the fail-on threshold."""

    def __init__(self, failing: list[Finding], threshold: str):
        super().__init__(format_findings(failing))
        self.failing = failing
        self.threshold = threshold


class CoreMLLintItem(pytest.Item):
    """Lints one model; fails on findings at or above the threshold."""

    def runtest(self) -> None:
        from .runner import unreadable_finding

        settings = _settings(self.config)
        try:
            result = settings.lint(self.path)
            findings = result.findings
            self.user_properties.append(("coreml_lint", json.dumps(result.to_dict())))
        except InvalidModelError as exc:
            findings = [unreadable_finding(str(self.path), exc)]
        failing = [f for f in findings if severity_at_least(f.severity, settings.fail_on)]
        self.user_properties.append(("coreml_lint_findings",
                                     json.dumps([f.to_dict() for f in findings])))
        if failing:
            raise LintFailure(failing, settings.fail_on)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, LintFailure):
            failure = excinfo.value
            header = (f"coremlcheck lint: {len(failure.failing)} finding(s) at or above "
                      f"'{failure.threshold}'")
            return header + "\n" + str(failure)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{ITEM_NAME}: {self.path.name}"


class _LintSummary:
    """Collects lint findings from item reports (also under xdist) and prints those below
    the threshold at the end of the session."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.findings: list[Finding] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "coreml_lint_findings":
                self.findings.extend(Finding(**item) for item in json.loads(value))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        fail_on = _settings(self.config).fail_on
        below = [f for f in self.findings if not severity_at_least(f.severity, fail_on)]
        if not below:
            return
        terminalreporter.section("coremlcheck lint")
        shown = [f for f in below if f.severity != "info"]
        for line in format_findings(shown).splitlines():
            terminalreporter.write_line(line)
        info = len(below) - len(shown)
        if info:
            terminalreporter.write_line(f"{info} info finding(s) below the fail-on threshold; "
                                        "run `coremlcheck lint PATH` to see them")
