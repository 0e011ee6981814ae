"""Fixtures for the executor tests: fast conversions and a seeded random generator."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _fast_conversion():
    """``ct.convert`` ends with a full ``gc.collect()``, seconds once torch and TensorFlow are
    loaded; these tests convert hundreds of small programs, so skip that collection."""
    import coremltools.converters._converters_entry as entry

    original = entry.gc

    class _NoFullCollect:
        @staticmethod
        def collect(*args, **kwargs):
            return 0

    entry.gc = _NoFullCollect
    yield
    entry.gc = original


@pytest.fixture
def rng():
    return np.random.default_rng(0)
