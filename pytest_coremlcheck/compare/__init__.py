"""Numbers and verdicts, no I/O: the metric table (``metric_table``), the metrics
(``metrics``), tolerances and their defaults (``tolerance``, ``noise_floor``), classifier
outputs (``classifier``) and the verdicts (``verdict``: outputs against tolerances, variant
steps against each other).

``pytest_coremlcheck.compare``'s old names (``compare_outputs``, ``violations``, …) are the
``verdict`` module's, loaded on first use so that importing ``compare.tolerance`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    verdict = import_module(".verdict", __name__)
    try:
        return getattr(verdict, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
