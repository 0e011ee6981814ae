"""Moved to ``pytest_coremlcheck.coreml.loading``; kept for one release."""

from ..coreml.loading import *  # noqa: F401,F403
