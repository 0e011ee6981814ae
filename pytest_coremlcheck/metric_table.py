"""Moved to ``pytest_coremlcheck.compare.metric_table``; this path keeps working for one release."""

from .compare.metric_table import *  # noqa: F401,F403
