"""Moved to ``pytest_coremlcheck.coreml.features``; kept for one release."""

from ..coreml.features import *  # noqa: F401,F403
