"""Moved to ``pytest_coremlcheck.coreml.image``; kept for one release."""

from ..coreml.image import *  # noqa: F401,F403
