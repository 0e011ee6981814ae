"""Results of a lint run over several models, as the formats read them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..findings import SEVERITIES, Finding, severity_at_least
from ..result import LintResult


@dataclass
class LintReport:
    """Every result of one run, the findings for files that could not be read (``CML-V000``),
    and the settings that decide failure."""

    results: list[LintResult] = field(default_factory=list)
    unreadable: list[Finding] = field(default_factory=list)
    target: str | None = None
    fail_on: str = "error"

    @property
    def findings(self) -> list[Finding]:
        out = list(self.unreadable)
        for result in self.results:
            out.extend(result.findings)
        return out

    def counts(self) -> dict[str, int]:
        findings = self.findings
        return {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if severity_at_least(f.severity, self.fail_on)]

    @property
    def failed(self) -> bool:
        return bool(self.failing)
