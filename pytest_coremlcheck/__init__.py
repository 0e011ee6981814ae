"""pytest-coremlcheck: prove a converted Core ML model computes what its source computes.

Public API: ``Tolerance``, ``images``, ``tensors``, ``assert_equivalent``,
``EquivalenceError``, ``EquivalenceResult``. The pytest plugin adds the
``coreml_equivalence`` marker and the ``coreml_check`` fixture.
"""

from __future__ import annotations

from .inputs import feeds, images, tensors
from .result import CheckError, EquivalenceError, EquivalenceResult
from .tolerance import Tolerance

__all__ = [
    "Tolerance",
    "images",
    "tensors",
    "feeds",
    "assert_equivalent",
    "EquivalenceError",
    "EquivalenceResult",
    "CheckError",
]
__version__ = "0.1.0"


def assert_equivalent(
    source,
    converted=None,
    inputs=None,
    tolerance: Tolerance | dict | None = None,
    **kw,
) -> EquivalenceResult:
    """Check ``converted`` against ``source`` without pytest.

    Keywords: ``convert`` (``ct.convert`` arguments when ``converted`` is None), ``name``,
    ``backend`` ("auto", "coreml", "reference"), ``compute_units`` (list), ``fp16_mode``.
    Returns the result; raises ``EquivalenceError`` (an AssertionError whose message is the
    failure table) when a tolerance is broken, ``CheckError`` when the check cannot run.
    """
    from .check import CheckSettings, run_check

    settings = CheckSettings(
        backend=kw.pop("backend", "auto"),
        compute_units=list(kw.pop("compute_units", ["ALL"])),
        fp16_mode=kw.pop("fp16_mode", "typed"),
    )
    results = run_check(source, converted, inputs=inputs, tolerance=tolerance,
                        settings=settings, **kw)
    for result in results:
        if not result.passed:
            raise EquivalenceError(result)
    return results[0]
