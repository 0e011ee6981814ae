"""Start-up notices of coremltools and TensorFlow that say nothing about the models checked:
held back, counted, and named once in the pytest summary.

Held back (``COREMLCHECK_SHOW_NOTICES=1`` shows them all):

- coremltools' ``Failed to load _ML…Proxy`` lines, off macOS only: Core ML's native runtime
  does not exist there, and the reference executor runs the models;
- ``<framework> version X has not been tested with coremltools`` and ``scikit-learn version X
  is not supported``: named again, with the versions, in the summary line;
- TensorFlow's C++ INFO and WARNING logs (``TF_CPP_MIN_LOG_LEVEL=2``), unless the variable is
  already set, and the lines its import writes straight to file descriptor 2 before logging is
  set up (no CUDA driver, CPU instruction sets): the import runs with descriptor 2 captured,
  and every other line is written back. Errors are never held back.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import platform
import re
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager

import pytest

SHOW_ENV = "COREMLCHECK_SHOW_NOTICES"

#: (pattern, reason group); a record whose message matches is held back under its group
_NOTICES = (
    (re.compile(r"Failed to load '?_ML\w*Proxy"), "native Core ML runtime not on this OS"),
    (re.compile(r"(\S+) version (\S+) has not been tested with coremltools"), "untested"),
    (re.compile(r"(scikit-learn) version (\S+) is not supported"), "untested"),
)

_held: Counter = Counter()


class _HoldBack(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for pattern, group in _NOTICES:
            match = pattern.search(message)
            if match is None:
                continue
            if group.startswith("native") and platform.system() == "Darwin":
                return True  # on macOS a missing native runtime is a real problem
            _held["untested: " + " ".join(match.groups()) if group == "untested" else group] += 1
            return False
        return True


#: lines TensorFlow's import writes to descriptor 2 before its logging is initialised
_TF_STARTUP_LINES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\)|cudart_stub\.cc.*cuda drivers|"
    r"cpu_feature_guard\.cc|^To enable the following instructions|oneDNN custom operations")


@contextmanager
def _startup_lines_held_back():
    """Capture descriptor 2; afterwards write back every line but TensorFlow's start-up ones."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if _TF_STARTUP_LINES.search(line):
                    _held["tensorflow start-up lines"] += 1
                else:
                    sys.stderr.write(line)
            sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs the first ``import tensorflow`` with its start-up lines held back."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            with _startup_lines_held_back():
                run(module)

        spec.loader.exec_module = exec_module
        return spec


def hold_back() -> None:
    """Install the filter on coremltools' logger and quiet TensorFlow's start-up logs; call
    before coremltools or TensorFlow is imported. Nothing with ``COREMLCHECK_SHOW_NOTICES=1``."""
    if os.environ.get(SHOW_ENV) == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logger = logging.getLogger("coremltools")
    if not any(isinstance(f, _HoldBack) for f in logger.filters):
        logger.addFilter(_HoldBack())
    if "tensorflow" not in sys.modules and \
            not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def summary(held: Counter) -> str | None:
    """One line naming what was held back and why (None when nothing was)."""
    if not held:
        return None
    parts = []
    native = held.get("native Core ML runtime not on this OS", 0)
    if native:
        parts.append(f"{native}× Core ML's native runtime is not available on "
                     f"{platform.system()} (the reference executor runs models)")
    if held.get("tensorflow start-up lines"):
        parts.append("TensorFlow's start-up log lines (no CUDA driver, CPU instruction sets)")
    untested = sorted(key.split(": ", 1)[1] for key in held if key.startswith("untested: "))
    if untested:
        parts.append(f"coremltools {_coremltools_version()} has not been tested with "
                     f"{', '.join(untested)}")
    return (f"coremlcheck held back {sum(held.values())} start-up notice(s): "
            f"{'; '.join(parts)}. {SHOW_ENV}=1 shows them.")


def _coremltools_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coremltools")
    except PackageNotFoundError:
        return "?"


class NoticeReporter:
    """Collects the held-back counts (from xdist workers too) and prints the summary line."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.held: Counter = Counter()

    def pytest_sessionfinish(self) -> None:
        if hasattr(self.config, "workeroutput"):
            self.config.workeroutput["coremlcheck_notices"] = dict(_held)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        self.held.update(getattr(node, "workeroutput", {}).get("coremlcheck_notices", {}))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        import textwrap

        line = summary(self.held + _held)
        if line:
            width = max(self.config.get_terminal_writer().fullwidth, 40)
            for part in textwrap.wrap(line, width=width, subsequent_indent="  "):
                terminalreporter.write_line(part)


def register(config: pytest.Config) -> None:
    config.pluginmanager.register(NoticeReporter(config), "coremlcheck_notices")
