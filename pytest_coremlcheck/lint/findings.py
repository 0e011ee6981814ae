"""What the linter reports: findings, their severities, and the threshold test."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Severities from most to least serious. ``error``: Xcode, ``coremlc`` or Core ML rejects the
#: file on the chosen target; ``warning``: it loads but is likely wrong, slow or fragile;
#: ``info``: hygiene.
SEVERITIES = ("error", "warning", "info")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def check_severity(severity: str) -> str:
    """Return ``severity`` if it is one of :data:`SEVERITIES`, else raise ``ValueError``."""
    if severity not in _RANK:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    return severity


def severity_at_least(severity: str, threshold: str) -> bool:
    """True if ``severity`` is as serious as ``threshold`` or more (``error`` ≥ ``warning`` ≥
    ``info``)."""
    return _RANK[check_severity(severity)] <= _RANK[check_severity(threshold)]


@dataclass(frozen=True)
class Finding:
    """One problem in one model file.

    ``location`` points inside the model: ``input/x``, ``output/probs``, ``main/var_12`` (an op of
    function ``main``, named by its ``name`` attribute or first output), ``pipeline/1/...`` for a
    pipeline's sub-model, or ``""`` for the model as a whole. ``fix`` is a one-line hint.
    """

    id: str
    severity: str
    message: str
    path: str
    location: str = ""
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sort_key(self) -> tuple:
        return (self.path, _RANK[self.severity], self.id, self.location, self.message)
