"""Moved to ``pytest_coremlcheck.compare.classifier``; this path keeps working for one release."""

from .compare.classifier import *  # noqa: F401,F403
