"""What goes wrong, by whose fault: the converted model broke a tolerance
(``EquivalenceError``), the check could not run because of the user's models, files or inputs
(``CheckError``, ``RuntimeUnavailable``), or this package has a bug (``InternalError``)."""

from __future__ import annotations

import linecache
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .check.result import EquivalenceResult

ISSUES_URL = "https://github.com/pytest-coremlcheck/pytest-coremlcheck/issues"
#: exception types that, raised by this package's own code, mean a bug here
PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, KeyError, IndexError,
                      UnboundLocalError, ZeroDivisionError, AssertionError)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class EquivalenceError(AssertionError):
    """A converted model broke its tolerance; the message is the failure table.

    ``result`` is the first failing result; ``also_failed`` the others of the same check.
    """

    def __init__(self, result: EquivalenceResult, also_failed: list | None = None):
        self.result = result
        self.also_failed = list(also_failed or [])
        text = result.failure_table()
        for other in self.also_failed:
            text += "\n\n" + other.failure_table()
        super().__init__(text)


EquivalenceError.__module__ = "pytest_coremlcheck"  # its public path, short in test summaries


class CheckError(Exception):
    """A check could not run: bad input, unreadable model, a source that raised.

    The message names the file, input or op and what was expected.
    """


class RuntimeUnavailable(CheckError):
    """The requested runtime cannot run here (e.g. Core ML off macOS): the check could not run
    what was asked (the pytest plugin skips, or fails under ``--coreml-strict``)."""


class InternalError(Exception):
    """A bug in pytest-coremlcheck (not in the user's models or inputs); raised from the
    original exception so its traceback is kept."""


def is_internal(exc: BaseException) -> bool:
    """True for a programming error (``PROGRAMMING_ERRORS``) that Python raised in this
    package's code: the innermost traceback frame is one of our files (not torch's,
    coremltools' or the user's) and its line is not a ``raise`` statement (a ``raise
    TypeError(...)`` of ours reports bad user input on purpose)."""
    if not isinstance(exc, PROGRAMMING_ERRORS) or isinstance(exc, EquivalenceError):
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = os.path.abspath(tb.tb_frame.f_code.co_filename)
    if not path.startswith(_PACKAGE_DIR):
        return False
    return not linecache.getline(path, tb.tb_lineno).lstrip().startswith("raise")


def guarded(what: str, fn: Callable):
    """Run ``fn``; a failure caused by the user's models, files or inputs becomes a CheckError
    naming ``what``; a bug of ours becomes an ``InternalError`` with its traceback."""
    try:
        return fn()
    except (CheckError, InternalError):
        raise
    except Exception as exc:
        if is_internal(exc):
            raise internal_error(what, exc) from exc
        raise CheckError(f"{what}: {exc}") from exc


def internal_error(what: str, exc: BaseException) -> InternalError:
    """The error to raise for a bug of ours met while doing ``what``."""
    return InternalError(f"internal error in pytest-coremlcheck ({what}): "
                         f"{type(exc).__name__}: {exc}. This is a bug, not a problem with "
                         f"your model: please report it with this traceback at {ISSUES_URL}")
