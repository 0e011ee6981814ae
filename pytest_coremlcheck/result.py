"""Moved to ``check.result`` (result types), ``compare.result`` (``OutputResult``) and
``report.failure_table`` (the failure table); this path is kept for one release."""

from .check.result import EquivalenceResult, ResultSet  # noqa: F401
from .compare.result import OutputResult  # noqa: F401
from .errors import CheckError, EquivalenceError, guarded  # noqa: F401
from .report.failure_table import TABLE_COLUMNS, format_table, localisation_line  # noqa: F401
