"""Key metrics of a check as JUnit XML properties (``--junitxml``): one property per value,
``coreml.<check>.backend`` and ``coreml.<check>.<output>.<metric>``."""

from __future__ import annotations

from ..compare import metric_table

KEY_METRICS = tuple(m.name for m in metric_table.METRICS if m.key)


def junit_properties(check: dict) -> list[tuple[str, object]]:
    """(name, value) pairs for a check dict (``EquivalenceResult.to_dict()``)."""
    prefix = f"coreml.{check['name']}"
    props: list[tuple[str, object]] = [(f"{prefix}.backend", check.get("backend")),
                                       (f"{prefix}.passed", check.get("passed"))]
    for output, values in (check.get("outputs") or {}).items():
        props += [(f"{prefix}.{output}.{m}", values[m]) for m in KEY_METRICS
                  if values.get(m) is not None]
    props += [(f"{prefix}.{gate}", outcome) for gate, outcome in check.get("gates", {}).items()]
    return props
