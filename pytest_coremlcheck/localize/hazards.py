"""Numeric hazards of a recorded program, every op in program order (the executor's watch,
``reference.mil.hazards``, keeps only the first op of each kind).

Per op output, over the recorded samples (``a``: the run under test, ``r``: the reference):

- ``nonfinite``: ``a`` holds NaN/Inf;
- ``fp16_overflow``: declared fp16 and |r| > 65504 somewhere (the value cannot be held in fp16);
- ``fp16_underflow``: declared fp16 and at least ``UNDERFLOW_SHARE`` of its values have
  0 < |r| < 2**-14 (fp16 subnormals: precision lost, under 6e-8 flushed to zero).

A hazard is a *downstream symptom* when one of the run-time vars the op reads is the output of
an op with a NaN/Inf or overflow hazard.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..reference.mil.hazards import FP16_MAX, KINDS
from ..reference.mil.recording import source_module

#: Share of an output's values that must be fp16 subnormals to report an underflow.
UNDERFLOW_SHARE = 0.1


@dataclass(frozen=True)
class Hazard:
    index: int
    kind: str
    op: str
    op_type: str
    output: str
    location: str
    detail: str
    downstream: bool

    def describe(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        tail = " (downstream symptom of an earlier hazard)" if self.downstream else ""
        return f"{KINDS[self.kind]}: op {self.op!r} ({self.op_type}){where} output " \
               f"{self.output!r}: {self.detail}{tail}"

    def to_dict(self) -> dict:
        return {"index": self.index, "kind": self.kind, "op": self.op, "op_type": self.op_type,
                "output": self.output, "location": self.location, "detail": self.detail,
                "downstream": self.downstream, "message": self.describe()}


def program_hazards(recording, errors: dict) -> list[Hazard]:
    """Hazards of every op of ``recording`` (the run under test), in program order;
    ``errors``: var name -> ``errors.VarError`` over the samples."""
    found: list[Hazard] = []
    tainted: set[str] = set()
    for index, record in enumerate(recording.ops):
        downstream = any(v in tainted for v in record.input_vars)
        location = source_module(record.scopes)
        for output, fp16 in zip(record.outputs, record.fp16):
            stats = errors.get(output)
            if stats is None:
                continue
            for kind, detail in _kinds(stats, fp16):
                found.append(Hazard(index, kind, record.name, record.op_type, output,
                                    location, detail, downstream))
                if kind != "fp16_underflow":
                    tainted.add(output)
    return found


def _kinds(stats, fp16: bool):
    if stats.nonfinite:
        yield "nonfinite", f"{stats.nonfinite} of {stats.size} values are NaN/Inf"
    if fp16 and stats.peak_ref > FP16_MAX:
        yield "fp16_overflow", f"max |x| = {stats.peak_ref:.4g} in the reference run"
    if fp16 and stats.size and stats.tiny_ref >= UNDERFLOW_SHARE * stats.size:
        yield "fp16_underflow", f"{stats.tiny_ref} of {stats.size} values"
