"""Plain-data results of a check, and the failure table users read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .compare.metric_table import NAMES, show
from .compare.metrics import OutputMetrics, json_number
from .compare.tolerance import Tolerance
from .errors import CheckError, EquivalenceError, guarded  # noqa: F401  (their old path)


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


@dataclass
class EquivalenceResult:
    """The outcome of one check.

    ``backend`` is ``"coreml"`` or ``"reference"``; ``platform`` says what actually ran,
    e.g. ``"reference executor, fp16-typed"`` or ``"Core ML 8.0, CPU_ONLY"``.
    """

    name: str
    backend: str
    platform: str
    tolerance: Tolerance
    output_results: dict[str, OutputResult]
    source: str = ""
    model: str = ""
    inputs: str = ""
    precision: str = "fp32"
    extra_failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lint: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: first op of each numeric hazard kind (reference executor), see reference.mil.hazards
    hazards: list[dict] = field(default_factory=list)
    #: variant chains: the variant, its step ("fp16 → int8") and metrics against that step
    variant: str | None = None
    step: str | None = None
    step_outputs: dict[str, OutputMetrics] = field(default_factory=dict)
    #: flexible inputs: the shape configuration this result ran (e.g. "image=1x3x64x64")
    shape: str = ""
    #: sha256 of the converted model's files and of the input samples (``coreml.hashing``)
    model_hash: str = ""
    inputs_hash: str = ""
    #: ``--coreml-golden``: metrics of each output against the stored golden outputs
    golden_outputs: dict[str, OutputMetrics] = field(default_factory=dict)
    #: gate outcomes by gate ("baseline", "golden"): "compared", "no baseline", "stale: …"
    gates: dict[str, str] = field(default_factory=dict)
    #: FP32 default: the source's float32 noise floor and the limits derived from it, or why
    #: the fixed default was used (``noise_floor.NoiseFloor.to_dict``); None otherwise
    noise_floor: dict | None = None
    #: training parity checks: the update's configuration and both loss curves per epoch
    #: (``{"config": {...}, "losses": {"converted": [...], "source": [...]}}``)
    training: dict | None = None
    #: the converted model's outputs, per sample, as arrays (not in ``to_dict``)
    #: where the converted model loses accuracy: ``Localisation.to_dict()`` (None: not run)
    localisation: dict | None = None
    converted_outputs: list[dict[str, Any]] = field(default_factory=list, repr=False,
                                                    compare=False)
    #: re-runs the check's samples under the full hazard watch (not in ``to_dict``)
    hazard_probe: Callable[[], list[dict]] | None = field(default=None, repr=False,
                                                          compare=False)

    def attach_full_hazards(self) -> None:
        """A failing result's hazards become the full watch's (every kind, underflow too)."""
        if not self.passed and self.hazard_probe is not None:
            self.hazards = self.hazard_probe()
            self.hazard_probe = None

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def outputs(self) -> dict[str, OutputMetrics | None]:
        """Output name -> metrics."""
        return {name: r.metrics for name, r in self.output_results.items()}

    @property
    def failures(self) -> list[str]:
        out = list(self.extra_failures)
        for r in self.output_results.values():
            out.extend(r.failures)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "backend": self.backend,
            "platform": self.platform,
            "precision": self.precision,
            "source": self.source,
            "model": self.model,
            "inputs": self.inputs,
            "tolerance": self.tolerance.to_dict(),
            "outputs": {name: r.to_dict() for name, r in self.output_results.items()},
            "failures": self.failures,
            "notes": list(self.notes),
            "lint": list(self.lint),
            "timings": dict(self.timings),
            "hazards": list(self.hazards),
            "variant": self.variant,
            "step": self.step,
            "step_outputs": {k: m.to_dict() for k, m in self.step_outputs.items()},
            "shape": self.shape,
            "model_hash": self.model_hash,
            "inputs_hash": self.inputs_hash,
            "golden_outputs": {k: m.to_dict() for k, m in self.golden_outputs.items()},
            "gates": dict(self.gates),
            "noise_floor": self.noise_floor,
            **({"training": self.training} if self.training is not None else {}),
            **({"localisation": self.localisation} if self.localisation is not None else {}),
        }

    def failure_table(self) -> str:
        """The readable table a failing check shows: the first failure (the line pytest's
        short summary shows), then what ran, every output, every failure."""
        more = len(self.failures) - 1
        lines = [
            *([self.failures[0] + (f" (and {more} more)" if more > 0 else "")]
              if self.failures else []),
            f"Core ML equivalence check {self.name!r} FAILED",
            f"  model:    {self.model}",
            f"  source:   {self.source}",
            f"  backend:  {self.backend} ({self.platform})",
            *([f"  variant:  {self.variant} (step {self.step})"] if self.variant else []),
            *([f"  shape:    {self.shape}"] if self.shape else []),
            f"  inputs:   {self.inputs}",
            f"  tolerance: {self.tolerance.describe()}",
            "",
            format_table(self.output_results.values()),
            "",
            "Failures:",
        ]
        lines += [f"  - {f}" for f in self.failures]
        if self.step_outputs:
            lines.append(f"Against the previous step ({self.step}):")
            lines += [f"  {k}: SNR {show('snr_db', m.snr_db)} dB, cosine "
                      f"{show('cosine', m.cosine)}" for k, m in self.step_outputs.items()]
        if self.golden_outputs:
            lines.append("Against the golden outputs:")
            lines += [f"  {k}: max_abs {show('max_abs', m.max_abs)}, SNR "
                      f"{show('snr_db', m.snr_db)} dB, cosine {show('cosine', m.cosine)}"
                      for k, m in self.golden_outputs.items()]
        if self.hazards:
            lines.append("Numeric hazards in the converted model:")
            lines += [f"  - {h['message']}" for h in self.hazards]
        if self.localisation is not None:
            lines.append(localisation_line(self.localisation))
        lines += [f"  note: {n}" for n in self.notes]
        pictures = [p for r in self.output_results.values() for p in r.artifacts]
        if pictures:
            lines.append("Pictures of the failing image outputs: " + ", ".join(pictures))
        return "\n".join(lines)


def localisation_line(localisation: dict) -> str:
    """A localisation in one line: its summary (top suspect, verified fix) and its cost."""
    timing = localisation.get("timing", {})
    return (f"{localisation.get('summary', 'localisation')} (localisation: "
            f"{timing.get('extra_runs', 0)} extra runs, {timing.get('seconds', 0.0):.1f} s)")


TABLE_COLUMNS = ("output", *NAMES, "result")


def format_table(rows) -> str:
    """Fixed-width text table of output results, with the tightest passing tolerance.

    Metrics cover the positions finite on both sides; a ``non-finite`` column (counts of
    the positions left out) and a ``dtype`` column (integer source outputs) appear when a
    row needs them."""
    rows = list(rows)
    extra = [c for c, needed in (
        ("non-finite", any(r.metrics is not None and _nonfinite_text(r.metrics) for r in rows)),
        ("dtype", any(r.dtype for r in rows))) if needed]
    columns = (*TABLE_COLUMNS[:-1], *extra, TABLE_COLUMNS[-1])
    body = []
    for r in rows:
        m = r.metrics
        cells = {"output": r.name, "result": "ok" if r.passed else "FAIL",
                 "dtype": r.dtype or "-"}
        if m is None:
            cells["result"] = "FAIL" if r.failures else "skip"
        else:
            cells.update({name: show(name, getattr(m, name)) for name in NAMES})
            cells["non-finite"] = _nonfinite_text(m) or "0"
        body.append(tuple(cells.get(c, "-") for c in columns))
    widths = [max(len(c), *(len(row[i]) for row in body)) for i, c in enumerate(columns)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in body]
    tight = [r for r in rows if r.metrics is not None and r.failures and r.tightest]
    if tight:
        out.append("")
        out.append("tightest tolerance that would have passed:")
        for r in tight:
            text = ", ".join(f"{k}={v:.6g}" for k, v in r.tightest.items())
            out.append(f"  {r.name}: {text}")
    return "\n".join(out)


def _nonfinite_text(m: OutputMetrics) -> str:
    """Counts of the positions no metric covers, e.g. ``3 src NaN, 2 conv`` ('' when none)."""
    parts = [f"{count} {what}" for count, what in (
        (m.nonfinite, "conv"), (m.source_nan, "src NaN"), (m.matched_inf, "±inf both"))
        if count]
    return ", ".join(parts)


class ResultSet:
    """The results of a check that ran several models (variants), shapes or compute units."""

    def __init__(self, results: list[EquivalenceResult]):
        self.results = list(results)

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> EquivalenceResult:
        return self.results[index]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def backend(self) -> str:
        return self.results[0].backend

    @property
    def platform(self) -> str:
        return "; ".join(dict.fromkeys(r.platform for r in self.results))

    @property
    def failures(self) -> list[str]:
        return [f"{r.name}: {f}" for r in self.results for f in r.failures]

    def variant(self, name: str) -> EquivalenceResult:
        """The (first) result of variant ``name``."""
        for r in self.results:
            if r.variant == name:
                return r
        raise KeyError(f"no result for variant {name!r}; have "
                       f"{', '.join(str(r.variant) for r in self.results)}")

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "results": [r.to_dict() for r in self.results]}
