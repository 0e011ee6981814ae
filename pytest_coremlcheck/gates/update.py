"""``--coreml-baseline-update`` and ``--coreml-baseline-prune`` at the end of a session.

The update is one read-merge-write of the baseline under a file lock, done once per session
(by the xdist controller, from the checks every worker reported), so concurrent partial runs
keep each other's entries. Pruning removes an entry only when no check of this run produced
it, its test was not collected (``-k``/``-m`` deselect, they do not uncollect), its test file
lies under a file or directory argument of this run (node-id arguments prune nothing), and
collection had no errors (a file that fails to import collects nothing).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..store import store_key
from .baseline import BaselineError, update_baseline_file

#: key of the collected node ids in an xdist worker's ``workeroutput``
WORKER_KEY = "coremlcheck_collected"


class BaselineUpdater:
    """Collects the collected node ids (from xdist workers too) and writes the baseline."""

    def __init__(self, config: pytest.Config, path: Path, prune: bool):
        self.config = config
        self.path = path
        self.prune = prune
        self.collected: set[str] = set()
        self.collect_errors = 0
        self.lines: list[str] = []
        self.error: str | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items) -> None:
        """Before ``-k``/``-m`` deselect: every collected test counts as collected."""
        self.collected.update(item.nodeid for item in items)
        if hasattr(self.config, "workeroutput"):
            self.config.workeroutput[WORKER_KEY] = sorted(self.collected)

    def pytest_collectreport(self, report) -> None:
        self.collect_errors += bool(report.failed)

    def pytest_testnodedown(self, node, error) -> None:
        """xdist controller: the ids a worker collected."""
        self.collected.update(getattr(node, "workeroutput", {}).get(WORKER_KEY, ()))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        if hasattr(self.config, "workerinput"):
            return
        checks = self.config.stash[store_key].checks
        if not checks and not self.prune:
            return
        try:
            update = update_baseline_file(self.path, checks, self._prune_rule(exitstatus))
        except (OSError, BaselineError) as exc:
            self.error = f"coreml baseline {self.path}: not written: {_reason(exc)}"
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        self.lines = update.lines() + self.lines

    def _prune_rule(self, exitstatus):
        """``prune(label, entry)``, or None when pruning is off or unsafe in this run."""
        if not self.prune:
            return None
        if self.collect_errors or exitstatus not in (pytest.ExitCode.OK,
                                                     pytest.ExitCode.TESTS_FAILED,
                                                     pytest.ExitCode.NO_TESTS_COLLECTED):
            self.lines.append("coreml baseline: not pruned: collection was incomplete "
                              "(errors or an interrupted run)")
            return None
        rootdir = self.config.rootpath
        scopes = _scopes(self.config)

        def prune(label: str, entry: dict) -> bool:
            test = entry.get("test") or label.partition(" [")[0]
            if _collected(test, self.collected):
                return False
            file = (rootdir / test.split("::")[0]).resolve()
            return any(file == s or s in file.parents for s in scopes)

        return prune


def _scopes(config: pytest.Config) -> list[Path]:
    """The files and directories this run collected from (arguments or testpaths)."""
    base = Path(config.invocation_params.dir)
    return [(base / arg).resolve() for arg in config.args if "::" not in arg]


def _collected(test: str, ids: set[str]) -> bool:
    """Whether ``test`` (a node id, or a version 1 ``nodeid::name`` key) was collected."""
    parts = test.split("::")
    return any("::".join(parts[:n]) in ids for n in range(2, len(parts) + 1))


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__} ({exc.filename or ''})".replace(" ()", "")
    return str(exc)
