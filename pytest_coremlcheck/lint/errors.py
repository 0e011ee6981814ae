"""Errors of the linter: an unreadable model, and a bad request (unknown target or rule)."""

from __future__ import annotations


class InvalidModelError(Exception):
    """The file or object is not a Core ML model the linter can read.

    The message starts with ``"not a valid Core ML model: "`` and names the file and what is
    wrong with it.
    """

    PREFIX = "not a valid Core ML model: "

    def __init__(self, where: str, reason: str):
        self.where = where
        self.reason = reason
        super().__init__(f"{self.PREFIX}{where}: {reason}")


class LintUsageError(ValueError):
    """A lint request that cannot be honoured: unknown target name, rule id or severity."""
