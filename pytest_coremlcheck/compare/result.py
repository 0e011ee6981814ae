"""One output's verdict: its metrics, the tolerance applied to it and the failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .metrics import OutputMetrics, json_number
from .tolerance import Tolerance


@dataclass
class OutputResult:
    """One output's metrics, the tolerance applied to it and its verdict."""

    name: str
    metrics: OutputMetrics | None
    tolerance: Tolerance
    failures: list[str]
    tightest: dict[str, float] = field(default_factory=dict)
    note: str = ""
    #: PNG paths kept for a failing image output (source, converted, |difference|)
    artifacts: list[str] = field(default_factory=list)
    #: "source→converted" element types of an output the source computes as integers
    dtype: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "tolerance": self.tolerance.to_dict(),
            "failures": list(self.failures),
            "tightest_passing": {k: json_number(v) for k, v in self.tightest.items()},
        }
        if self.metrics is not None:
            out.update(self.metrics.to_dict())
        if self.note:
            out["note"] = self.note
        if self.artifacts:
            out["artifacts"] = list(self.artifacts)
        if self.dtype:
            out["dtype"] = self.dtype
        return out
