"""What a localisation found: the ranked ops, hazards, suspect weights and the fixes tried."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import OpError, _json
from .hazards import Hazard


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict and, per output, its SNR (dB) and cosine against the source."""

    passed: bool
    snr_db: dict[str, float]
    cosine: dict[str, float]

    @staticmethod
    def of(result) -> CheckOutcome:
        """From an ``EquivalenceResult``."""
        metrics = {name: r.metrics for name, r in result.output_results.items()}
        return CheckOutcome(
            result.passed,
            {k: (m.snr_db if m is not None else math.nan) for k, m in metrics.items()},
            {k: (m.cosine if m is not None else math.nan) for k, m in metrics.items()})

    @property
    def worst_snr_db(self) -> float:
        return min(self.snr_db.values(), default=math.nan)

    def describe(self) -> str:
        verdict = "passes" if self.passed else "fails"
        return f"{verdict}, SNR {_db(self.worst_snr_db)}"

    def to_dict(self) -> dict:
        return {"passed": self.passed,
                "snr_db": {k: _json(v) for k, v in self.snr_db.items()},
                "cosine": {k: _json(v) for k, v in self.cosine.items()},
                "worst_snr_db": _json(self.worst_snr_db)}


@dataclass
class Fix:
    """A fix applied, re-converted or re-compressed, and re-checked.

    ``verified``: the re-run check passes. A fix that does not is kept as *tried*, with its
    numbers."""

    kind: str  # "fp32_ops" | "exclude_weights"
    description: str
    code: str
    targets: list[str]
    before: CheckOutcome
    after: CheckOutcome | None
    error: str = ""

    @property
    def verified(self) -> bool:
        return self.after is not None and self.after.passed

    @property
    def gain_db(self) -> float:
        """Worst-output SNR after minus before (dB); NaN when the re-run did not happen."""
        if self.after is None:
            return math.nan
        return self.after.worst_snr_db - self.before.worst_snr_db

    def describe(self) -> str:
        status = "verified" if self.verified else "tried"
        if self.after is None:
            return f"{status}: {self.description}: could not re-run ({self.error})"
        return (f"{status}: {self.description}: SNR {_db(self.before.worst_snr_db)} → "
                f"{_db(self.after.worst_snr_db)} ({self.after.describe()})")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "description": self.description, "code": self.code,
                "targets": self.targets, "verified": self.verified,
                "before": self.before.to_dict(),
                "after": self.after.to_dict() if self.after is not None else None,
                "gain_db": _json(self.gain_db), "error": self.error,
                "message": self.describe()}


@dataclass
class Localisation:
    """Where an fp16 program or a compressed variant loses accuracy, and what fixes it.

    ``kind``: ``"fp16"`` (the program as declared vs the same program in fp32),
    ``"compression"`` (a variant vs its base) or ``"fp32"`` (nothing to localise).
    ``ops``: every op in program order (``errors.OpError``); ``ranking``: the top ops by the
    error they add; ``first_over_budget``: the first op whose output error exceeds the budget
    (``budget_db``, from the check's tolerance). ``seconds`` and ``extra_runs`` (predictions
    recorded plus checks re-run) say what it cost; ``conversions`` counts re-conversions and
    re-compressions (cache hits included)."""

    kind: str
    model: str
    before: CheckOutcome
    budget_db: float
    ops: list[OpError] = field(default_factory=list)
    ranking: list[OpError] = field(default_factory=list)
    first_over_budget: OpError | None = None
    hazards: list[Hazard] = field(default_factory=list)
    #: compression: base const op name -> the largest error added by an op reading it
    suspect_weights: list[tuple[str, OpError]] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    look_at: OpError | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    extra_runs: int = 0
    conversions: int = 0

    @property
    def _cause(self) -> str:
        return "fp16 compute" if self.kind == "fp16" else "weight compression"

    @property
    def verified_fix(self) -> Fix | None:
        return next((f for f in self.fixes if f.verified), None)

    @property
    def suspects(self) -> list[OpError]:
        """Ops whose added error alone exceeds the budget (or whose value overflows fp16)."""
        budget = 10.0 ** (-self.budget_db / 20.0)
        return [e for e in self.ranking if e.overflow or e.added > budget]

    def summary(self) -> str:
        """One line for a failure message: the top suspect and the verified fix, if any."""
        if self.kind == "fp32":
            return "localisation: the program computes in fp32 and is not compressed; " \
                   "nothing to localise"
        parts = [f"localisation ({self.kind}): check {self.before.describe()}"]
        suspect = None
        if self.suspect_weights:
            weight, reader = self.suspect_weights[0]
            suspect = f"weight {weight!r} (read by {_op_label(reader)})"
        elif self.ranking:
            suspect = _op_label(self.ranking[0])
        quiet = not self.suspects and all(h.kind == "fp16_underflow" for h in self.hazards)
        if quiet:
            parts.append(f"nothing suspect (no op adds error beyond {self.budget_db:.1f} dB)")
        elif suspect:
            parts.append(f"top suspect {suspect}")
        fix = self.verified_fix
        if fix is not None:
            parts.append(f"verified fix: {fix.code} (SNR {_db(fix.before.worst_snr_db)} → "
                         f"{_db(fix.after.worst_snr_db)})")
        elif self.fixes:
            where = self.look_at.describe() if self.look_at else suspect
            parts.append(f"no verified fix ({len(self.fixes)} tried); look at {where}")
        if quiet and fix is None and not self.before.passed:
            parts.append(f"the failure does not come from {self._cause}: compare the "
                         "converted model with its source instead")
        return "; ".join(parts)

    def report(self) -> str:
        """The full text: ranking, hazards, weights, fixes with their code, hints, cost."""
        lines = [self.summary(), f"budget: {self.budget_db:.1f} dB (relative L2 "
                 f"{10.0 ** (-self.budget_db / 20.0):.3g})"]
        if self.first_over_budget is not None:
            lines.append(f"first op over budget: {self.first_over_budget.describe()}")
        lines += ["ops ranked by the error they add:"] + [
            f"  {i}. {e.describe()}" for i, e in enumerate(self.ranking, 1)]
        lines += [f"hazard: {h.describe()}" for h in self.hazards]
        lines += [f"weight {name!r}: read by {e.describe()}" for name, e in self.suspect_weights]
        for fix in self.fixes:
            lines += [f"fix {fix.describe()}", *("    " + c for c in fix.code.splitlines())]
        lines += [f"hint: {h}" for h in self.hints] + [f"note: {n}" for n in self.notes]
        lines.append(f"cost: {self.seconds:.1f} s, {self.extra_runs} extra runs, "
                     f"{self.conversions} re-conversions")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "model": self.model, "before": self.before.to_dict(),
            "budget_db": self.budget_db, "summary": self.summary(),
            "first_over_budget": self.first_over_budget.to_dict()
            if self.first_over_budget else None,
            "ranking": [e.to_dict() for e in self.ranking],
            "ops": [e.to_dict() for e in self.ops],
            "hazards": [h.to_dict() for h in self.hazards],
            "suspect_weights": [{"weight": n, "op": e.to_dict()}
                                for n, e in self.suspect_weights],
            "fixes": [f.to_dict() for f in self.fixes],
            "verified_fix": self.verified_fix.to_dict() if self.verified_fix else None,
            "hints": self.hints, "notes": self.notes,
            "look_at": self.look_at.to_dict() if self.look_at else None,
            "timing": {"seconds": self.seconds, "extra_runs": self.extra_runs,
                       "conversions": self.conversions},
        }


def _op_label(error: OpError) -> str:
    where = f" in {error.location}" if error.location else ""
    return f"op {error.name!r} ({error.op_type}){where}"


def _db(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f} dB" if math.isfinite(value) else ("inf" if value > 0 else "-inf")
