"""Moved to ``pytest_coremlcheck.compare.metrics``; this path keeps working for one release."""

from .compare.metrics import *  # noqa: F401,F403
