"""Plain-data results of a check (the failure table users read is ``report.failure_table``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..compare.metrics import OutputMetrics
from ..compare.result import OutputResult
from ..compare.tolerance import Tolerance


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
        """The readable table a failing check shows (``report.failure_table``)."""
        from ..report.failure_table import failure_table

        return failure_table(self)




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
