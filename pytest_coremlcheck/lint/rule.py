"""Rules: what each one is, how it is registered by id, and what its check yields.

A rule's check is a function ``check(ctx) -> Iterable[Requirement | Problem]``:

* a :class:`Requirement` says "this feature needs spec version N". The engine turns it into a
  finding when the deployment target is older than N, and into ``CML-V004`` when the model's
  own declared version is older than N; the highest requirement is the model's required
  minimum target.
* a :class:`Problem` is a finding as it stands (a malformed field, a hazard, a hygiene note).

Rules are registered with :func:`rule` in modules grouped by id letter (``rules/``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .findings import check_severity

if TYPE_CHECKING:
    from .context import LintContext
    from .spec import ModelView

#: Rule groups: id letter → title (the order of docs/rules.md).
GROUPS = {
    "V": "Version and format",
    "T": "Interface types and features",
    "M": "Model types, pipelines, linked and updatable models",
    "O": "ML program ops and dtypes",
    "Q": "Weight and activation compression",
    "N": "NeuralNetwork layers",
    "F": "FP16 numeric hazards",
    "I": "Names and Xcode code generation",
    "C": "Classifiers",
    "D": "Metadata and documentation",
    "P": "Performance and the Neural Engine",
}

ID_RE = re.compile(r"^CML-([A-Z])(\d{3})$")


@dataclass(frozen=True)
class Requirement:
    """``subject`` (a noun phrase naming the op, feature or input) needs spec ``spec``.

    ``container`` marks requirements that come from how the file is labelled (the opset string)
    rather than from what it uses; they are named as the reason only when nothing else is.
    ``checked_from``: Core ML's validator checks the feature only in files declaring at least
    this version (older files load with it ignored), so a lower declared version is no
    ``CML-V004``.
    """

    spec: int
    subject: str
    location: str
    model: ModelView | None = None
    container: bool = False
    checked_from: int = 0


@dataclass(frozen=True)
class Problem:
    """A finding as it stands; ``severity``/``fix`` override the rule's defaults."""

    message: str
    location: str = ""
    severity: str | None = None
    fix: str | None = None


@dataclass(frozen=True)
class Rule:
    """A registered rule and its documentation (rendered into ``docs/rules.md``)."""

    id: str
    name: str
    severity: str
    summary: str
    why: str
    fix: str
    source: str
    check: Callable[[LintContext], Iterable[Requirement | Problem]]
    min_target: str = ""
    #: ids whose findings at the same location this rule's findings replace.
    supersedes: tuple[str, ...] = ()
    #: True if the rule reads weight values (skipped when weight scanning is off).
    reads_weights: bool = False

    @property
    def group(self) -> str:
        return self.id[4]


#: id → Rule, in registration order.
RULES: dict[str, Rule] = {}


def rule(rule_id: str, name: str, *, severity: str, summary: str, why: str, fix: str,
         source: str, min_target: str = "", supersedes: tuple[str, ...] = (),
         reads_weights: bool = False):
    """Register the decorated check function as rule ``rule_id``."""
    match = ID_RE.match(rule_id)
    if not match or match.group(1) not in GROUPS:
        raise ValueError(f"bad rule id {rule_id!r}")
    check_severity(severity)

    def register(check):
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, name, severity, summary, " ".join(why.split()),
                              " ".join(fix.split()), " ".join(source.split()), check,
                              min_target, supersedes, reads_weights)
        return check

    return register
