"""Step 3 of a check: compare one runtime's outputs with the source's, per case, into
``EquivalenceResult``s (tolerance, metrics, hazards, notes, timings)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..compare.tolerance import Tolerance, default_for_precision, with_default
from ..compare.verdict import as_array, check_output_names, compare_outputs, compare_steps
from ..convert.chain import BuiltModel
from ..convert.variants import Variant
from ..coreml.describe import compute_precision, describe_classifier
from ..coreml.features import describe
from ..coreml.hashing import model_hash
from ..report.pictures import image_writer
from ..settings import CheckSettings
from ..sources.composed import ComposedSource
from .plan import CheckPlan
from .result import EquivalenceResult
from .run import ConvertedRun, SourceRun
from .stages import stage_results


@dataclass
class Timings:
    """Seconds spent by the steps shared by every result of the check."""

    started: float  # time.perf_counter() at the start of the check
    convert_s: float


@dataclass
class ModelFacts:
    """What every result of one converted model shares, whatever runtime ran it: read from
    its spec, linted and hashed once per model."""

    precision: str
    layered: Tolerance  # the tolerance layers set by the run, marker, check and variant
    default: Tolerance | None  # the variant's own default; None: the precision's
    features: list
    classifier: object
    adaptive: bool  # the fp32 default follows the source's measured noise floor
    lint_all: list
    lint_failing: list
    digest: str


def model_facts(plan: CheckPlan, model: BuiltModel, settings: CheckSettings) -> ModelFacts:
    """``model``'s ``ModelFacts``; CheckError names a per-output tolerance for an output the
    model does not have."""
    spec = model.loaded.spec
    precision = compute_precision(spec)
    layered = plan.tolerance_layers(settings.default_tolerance, model)
    default = None if _precision_default(model.variant) else model.variant.tolerance
    features = describe(spec.description.output)
    check_output_names(layered, features, model.label)
    lint_all, lint_failing = settings.lint(model.model) if settings.lint else ([], [])
    return ModelFacts(precision, layered, default, features, describe_classifier(spec),
                      not layered.has_limits() and default is None and precision != "fp16",
                      lint_all, lint_failing, model_hash(model.loaded))


def model_results(plan: CheckPlan, model: BuiltModel, facts: ModelFacts, run: ConvertedRun,
                  source: SourceRun, base: ConvertedRun | None, settings: CheckSettings,
                  timings: Timings, title: str, runtimes: int) -> list[EquivalenceResult]:
    """One result per case for ``model`` on ``run.runtime`` (plus per-stage results of a
    pipeline checked against ``source_stages``)."""
    precision, layered, default = facts.precision, facts.layered, facts.default
    features, classifier = facts.features, facts.classifier
    results = []
    for index, case in enumerate(plan.cases):
        floor = source.floor(plan, index, _matched_names(features, classifier)) \
            if facts.adaptive else None
        effective = with_default(layered, default if default is not None
                                 else default_for_precision(precision, floor))
        name = _result_name(title, model, case.label, len(plan.cases), runtimes,
                            run.runtime.platform)
        pictures = image_writer(settings.artifacts_dir, name,
                                passing=settings.pictures_of_passing)
        result = EquivalenceResult(
            name=name, backend=run.runtime.backend, platform=run.runtime.platform,
            tolerance=effective,
            output_results=compare_outputs(features, source.outputs[index], run.outputs[index],
                                           effective, model.label, pictures,
                                           classifier=classifier,
                                           align=plan.source.align_output),
            source=plan.source.describe(), model=model.label,
            inputs=f"{plan.input_source.describe()} ({len(case.samples)} sample(s))",
            precision=precision,
            extra_failures=[f"lint {f.id} {f.severity}: {f.message}"
                            for f in facts.lint_failing],
            lint=[f.to_dict() for f in facts.lint_all],
            hazards=run.runtime.hazards(),
            variant=model.variant.name if model.variant else None,
            step=_step(model.variant), shape=case.label,
            timings={"convert_s": timings.convert_s, "source_s": source.seconds,
                     "converted_s": run.seconds,
                     "total_s": time.perf_counter() - timings.started,
                     **({"float64_source_s": floor.seconds} if floor else {})},
            noise_floor=floor.to_dict() if floor else None,
        )
        result.model_hash = facts.digest
        result.inputs_hash = source.input_hashes[index]
        result.hazard_probe = run.hazard_probe
        result.attach_full_hazards()
        result.converted_outputs = [
            {f.name: as_array(o[f.name], f, classifier.labels if classifier else None)
             for f in features if f.name in o} for o in run.outputs[index]]
        if base is not None:
            result.step_outputs = compare_steps(features, base.outputs[index],
                                                run.outputs[index])
        result.notes.extend(_notes(plan, model, run, layered, precision, floor))
        results.append(result)
        if isinstance(plan.source, ComposedSource) and run.runtime.reports_stages:
            results += stage_results(plan.source, model, run.runtime, case,
                                     run.stage_outputs[index], result, effective)
    return results


def _notes(plan: CheckPlan, model: BuiltModel, run: ConvertedRun, layered: Tolerance,
           precision: str, floor) -> list[str]:
    notes = [*model.notes, *run.runtime.notes(), *plan.source.layout_notes]
    if model.cached:
        notes.append("converted model taken from the conversion cache")
    if not layered.has_limits():
        what = f"variant {model.variant.name}" if model.variant else precision
        notes.append(f"no tolerance configured: the {what} default applies")
    if floor is not None:
        notes.append(floor.describe())
    if isinstance(plan.source, ComposedSource):
        notes += [f"stage boundary {b.describe()}" for b in run.runtime.boundaries()]
    return notes


def _precision_default(variant: Variant | None) -> bool:
    """True when the model's default tolerance is its precision's (no variant, the fp32
    variant, or a custom variant without a tolerance of its own)."""
    return variant is None or variant.name == "fp32" or variant.tolerance.is_empty()


def _matched_names(features, classifier) -> list[str]:
    """The converted outputs the source's outputs are matched to, in order (a classifier's
    predicted label takes no source output when its probabilities are declared)."""
    label = classifier.label if classifier and classifier.probabilities else None
    return [f.name for f in features if f.name != label]


def _step(variant: Variant | None) -> str | None:
    if variant is None:
        return None
    return f"{variant.base or 'source'} → {variant.name}"


def _result_name(base: str, model: BuiltModel, case_label: str, cases: int, runtimes: int,
                 platform: str) -> str:
    parts = []
    if model.variant is not None:
        parts.append(model.variant.name)
    if cases > 1:
        parts.append(case_label)
    if runtimes > 1:
        parts.append(platform)
    return base if not parts else f"{base} [{', '.join(parts)}]"
