"""Moved to ``pytest_coremlcheck.compare.noise_floor``; this path keeps working for one release."""

from .compare.noise_floor import *  # noqa: F401,F403
