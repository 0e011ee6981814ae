"""Moved to ``pytest_coremlcheck.compare.tolerance``; this path keeps working for one release."""

from .compare.tolerance import *  # noqa: F401,F403
