"""The outcome of linting one model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .findings import SEVERITIES, Finding, severity_at_least


@dataclass
class LintResult:
    """Findings for one model, and its deployment facts.

    ``required_target`` (e.g. ``"iOS17"``) is the oldest OS the model's content can run on, in
    the target's OS family (iOS when no target was given); ``required_spec`` is the same as a
    spec version; ``required_by`` is the id of the rule that raised it and ``required_reason``
    names the op, feature or input. ``declared_spec_version`` is the file's own
    ``specificationVersion``.
    """

    path: str
    findings: list[Finding]
    required_spec: int
    required_target: str
    required_by: str | None
    required_reason: str
    declared_spec_version: int
    model_type: str
    target: str | None = None
    target_spec: int | None = None
    op_table: str = ""
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of findings per severity."""
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    def failing(self, threshold: str = "error") -> list[Finding]:
        """Findings at or above ``threshold``."""
        return [f for f in self.findings if severity_at_least(f.severity, threshold)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model_type": self.model_type,
            "declared_spec_version": self.declared_spec_version,
            "required_spec_version": self.required_spec,
            "required_target": self.required_target,
            "required_by": self.required_by,
            "required_reason": self.required_reason,
            "target": self.target,
            "target_spec_version": self.target_spec,
            "op_table": self.op_table,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }
