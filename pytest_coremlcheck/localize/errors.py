"""Per-op error between two recordings of the same program, and the ranking by error added.

For one var, over every recorded sample, with ``a`` the run under test (fp16, or the
compressed variant) and ``r`` the reference run (the same program in fp32, or the base model):

    rel(v)    = sqrt(Σ(a − r)² / Σr²)           relative L2 error (over positions where both
                                                  are finite); inf when ``a`` is NaN/Inf where
                                                  ``r`` is finite
    snr_db(v) = −20·log10(rel(v))

For one op, ``out`` = the largest rel of its float outputs and ``in`` = the largest rel of the
run-time float vars it reads (program inputs included; consts and weights are the same in both
runs of one program):

    added(op) = max(0, out − in)                 when both are finite
              = inf                             when out is inf and in is finite
              = 0                               when in is inf (a symptom of an earlier op)
              = inf                             when the op's output is declared fp16 and its
                                                 reference value, that of a var it reads or
                                                 a constant it reads (e.g. finfo.min stored
                                                 as -inf) exceeds 65504: it cannot be
                                                 computed in fp16, whatever its inputs carry

Ops are ranked by ``added``, ties in program order, so one op that amplifies error (a
cancellation, an overflow) ranks above many ops that each add a little rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..reference.mil.hazards import FP16_MAX, FP16_MIN_NORMAL
from ..reference.mil.recording import source_module


@dataclass
class VarError:
    """Sums over samples of one var's values in the run under test (a) and the reference (r)."""

    signal: float = 0.0  # Σr² over positions where both are finite
    noise: float = 0.0  # Σ(a − r)² over the same positions
    broken: int = 0  # positions where a is NaN/Inf and r is finite
    nonfinite: int = 0  # positions where a is NaN/Inf
    peak_ref: float = 0.0  # max |r| over finite r
    tiny_ref: int = 0  # positions with 0 < |r| < 2**-14 (below fp16's smallest normal)
    size: int = 0

    def add(self, a: np.ndarray, r: np.ndarray) -> None:
        a64, r64 = a.astype(np.float64), r.astype(np.float64)
        fa, fr = np.isfinite(a64), np.isfinite(r64)
        both = fa & fr
        self.signal += float(np.sum(r64[both] ** 2))
        self.noise += float(np.sum((a64[both] - r64[both]) ** 2))
        self.broken += int(np.sum(~fa & fr))
        self.nonfinite += int(np.sum(~fa))
        magnitude = np.abs(r64[fr])
        if magnitude.size:
            self.peak_ref = max(self.peak_ref, float(magnitude.max()))
            self.tiny_ref += int(np.sum((magnitude > 0) & (magnitude < FP16_MIN_NORMAL)))
        self.size += a.size

    @property
    def rel(self) -> float:
        """Relative L2 error (module docstring); 0 for two exactly equal values."""
        if self.broken:
            return math.inf
        if self.noise == 0.0:
            return 0.0
        return math.sqrt(self.noise / self.signal) if self.signal > 0 else math.inf


def snr_db(rel: float) -> float:
    """−20·log10(rel): inf for no error, −inf for an unbounded one."""
    if rel == 0.0:
        return math.inf
    return -math.inf if math.isinf(rel) else -20.0 * math.log10(rel)


@dataclass
class OpError:
    """One op's error in program order (see the module docstring for the formulas)."""

    index: int
    name: str
    op_type: str
    scopes: dict
    #: the output with the largest error
    output: str
    #: whether that output is declared fp16
    fp16: bool
    rel: float
    input_rel: float
    added: float
    #: declared fp16, and the reference value of its output, of a var or of a constant it
    #: reads exceeds 65504: the op cannot compute in fp16
    overflow: bool = False
    #: const / constexpr inputs: input key -> const op name (the name compression configs use)
    weights: dict = field(default_factory=dict)
    #: NaN/Inf values of its outputs in the run under test (over all samples)
    nonfinite: int = 0

    @property
    def snr_db(self) -> float:
        return snr_db(self.rel)

    @property
    def location(self) -> str:
        """The source module, e.g. ``blocks.1.norm (RMSNorm)`` (``source_module``)."""
        return source_module(self.scopes)

    def describe(self) -> str:
        """``'op_13' (pow) [module path]: SNR 12.3 dB, adds 0.21 relative L2``."""
        where = f" [{self.location}]" if self.location else ""
        added = "inf" if math.isinf(self.added) else f"{self.added:.3g}"
        extra = ", a value it reads or writes exceeds the fp16 range (|x| > 65504)" \
            if self.overflow else ""
        if self.nonfinite:
            extra += f", {self.nonfinite} NaN/Inf values"
        return (f"{self.name!r} ({self.op_type}){where}: output SNR {_db(self.snr_db)}, "
                f"adds {added} relative L2 error{extra}")

    def to_dict(self) -> dict:
        return {"index": self.index, "op": self.name, "op_type": self.op_type,
                "scopes": self.scopes, "output": self.output, "fp16": self.fp16,
                "rel_error": _json(self.rel), "snr_db": _json(self.snr_db),
                "input_rel_error": _json(self.input_rel), "added": _json(self.added),
                "overflow": self.overflow, "weights": self.weights,
                "nonfinite": self.nonfinite,
                "message": self.describe()}


def _db(value: float) -> str:
    return f"{value:.1f} dB" if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _json(value: float):
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def add_errors(errors: dict[str, VarError], tested, reference) -> None:
    """Add one sample to ``errors`` (var name -> VarError): ``tested`` is the recording under
    test, ``reference`` the reference recording; vars are matched by name, floats only."""
    ref_values = dict(reference.inputs)
    for record in reference.ops:
        ref_values.update(record.values)
    values = dict(tested.inputs)
    for record in tested.ops:
        values.update(record.values)
    for name, value in values.items():
        other = ref_values.get(name)
        if other is None or value.dtype.kind != "f" or other.shape != value.shape:
            continue
        errors.setdefault(name, VarError()).add(value, other)


def op_errors(tested, reference, errors: dict[str, VarError],
              base_weights: dict[str, dict[str, str]] | None = None) -> list[OpError]:
    """Every op of the tested program with float outputs, in program order; ``tested`` and
    ``reference`` are recordings of one sample (only their ops are read), ``errors`` the
    VarErrors over every sample.

    ``base_weights``: op name -> {input key: const op name} in the reference program (for a
    compressed variant: which base weight each ``constexpr_*`` input replaced)."""
    # a compressed variant keeps the base's op names but not the scopes of its conversion
    scopes = {r.name: r.scopes for r in reference.ops}
    found = []
    for index, record in enumerate(tested.ops):
        outs = [(errors[v].rel, v) for v in record.outputs if v in errors]
        if not outs:
            continue
        rel, output = max(outs, key=lambda item: item[0])
        fp16 = record.fp16[record.outputs.index(output)]
        in_rel = max((errors[v].rel for v in record.input_vars if v in errors), default=0.0)
        overflow = any(record.fp16) and (any(
            errors[v].peak_ref > FP16_MAX for v in record.outputs + record.input_vars
            if v in errors) or any(c.peak is not None and c.peak > FP16_MAX
                                   for c in record.constants.values()))
        weights = {}
        if base_weights is not None:
            weights = {key: base_weights.get(record.name, {}).get(key, const.op)
                       for key, const in record.constants.items()
                       if const.op_type.startswith("constexpr_")}
        found.append(OpError(index, record.name, record.op_type,
                             dict(record.scopes or scopes.get(record.name, {})), output,
                             fp16, rel, in_rel, _added(rel, in_rel, overflow), overflow,
                             weights, sum(errors[v].nonfinite for v in record.outputs
                                          if v in errors)))
    return found


def _added(out: float, inp: float, overflow: bool) -> float:
    if overflow:
        return math.inf
    if math.isinf(inp):
        return 0.0
    if math.isinf(out):
        return math.inf
    return max(0.0, out - inp)


def ranked(errors: list[OpError]) -> list[OpError]:
    """Ops adding error, largest first (ties in program order); ops adding none left out."""
    return sorted((e for e in errors if e.added > 0), key=lambda e: (-e.added, e.index))
