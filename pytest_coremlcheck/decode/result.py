"""What a decode loop returns: each step (``DecodeStep``) and the check's result
(``DecodeResult``, an ``EquivalenceResult`` whose output rows are the steps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..check.result import EquivalenceResult
from ..compare.metrics import OutputMetrics, json_number


@dataclass
class DecodeStep:
    """One call of both sides: what went in, the tokens each side picked, the metrics."""

    index: int
    function: str
    position: int
    source_input: list[int]
    converted_input: list[int]
    source_token: int
    converted_token: int
    metrics: OutputMetrics | None = None

    @property
    def compared(self) -> bool:
        return self.metrics is not None

    def label(self) -> str:
        return f"step {self.index} ({self.function}, position {self.position})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.index, "function": self.function,
                               "position": self.position, "source_input": self.source_input,
                               "converted_input": self.converted_input,
                               "source_token": self.source_token,
                               "converted_token": self.converted_token,
                               "compared": self.compared}
        if self.metrics is not None:
            out["snr_db"] = json_number(self.metrics.snr_db)
            out["cosine"] = json_number(self.metrics.cosine)
            out["max_abs"] = json_number(self.metrics.max_abs)
        return out


@dataclass
class DecodeResult(EquivalenceResult):
    """An ``EquivalenceResult`` whose output rows are the steps of a decode loop.

    ``teacher_forcing``: both sides were fed the source's tokens (else each its own).
    ``first_divergent_step``: the first step whose top-1 tokens differ (None: none did).
    """

    prompt: list[int] = field(default_factory=list)
    teacher_forcing: bool = False
    steps: list[DecodeStep] = field(default_factory=list)

    @property
    def source_tokens(self) -> list[int]:
        """The tokens the source generated (one per step)."""
        return [s.source_token for s in self.steps]

    @property
    def converted_tokens(self) -> list[int]:
        """The tokens the converted model generated (one per step)."""
        return [s.converted_token for s in self.steps]

    @property
    def first_divergent_step(self) -> int | None:
        return next((s.index for s in self.steps if s.source_token != s.converted_token), None)

    @property
    def compared_steps(self) -> list[DecodeStep]:
        return [s for s in self.steps if s.compared]

    @property
    def top1_agreement(self) -> float | None:
        """Fraction of compared steps whose top-1 tokens agree (None: none compared)."""
        compared = self.compared_steps
        if not compared:
            return None
        return sum(s.source_token == s.converted_token for s in compared) / len(compared)

    @property
    def mode(self) -> str:
        return "teacher forcing" if self.teacher_forcing else "free-running"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["decode"] = {
            "mode": self.mode, "prompt": list(self.prompt),
            "source_tokens": self.source_tokens, "converted_tokens": self.converted_tokens,
            "first_divergent_step": self.first_divergent_step,
            "top1_agreement": self.top1_agreement,
            "steps_compared": len(self.compared_steps),
            "steps": [s.to_dict() for s in self.steps],
        }
        return out
