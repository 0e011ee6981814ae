"""The localisation step of a check (``CheckSettings.localizer``, set by the pytest plugin,
``assert_equivalent`` and the CLI): where a result's converted model loses accuracy
(``localize``), attached to the result. A localisation never changes a verdict: one that cannot
run leaves a note."""

from __future__ import annotations

from contextvars import ContextVar

from ..check.plan import CheckPlan
from ..check.result import EquivalenceResult
from ..convert.chain import BuiltModel
from ..coreml.features import describe
from ..errors import CheckError
from ..settings import CheckSettings

#: set while a localisation runs: the checks it re-runs are not localised again
_LOCALISING: ContextVar[bool] = ContextVar("coremlcheck_localising", default=False)


def localise_results(plan: CheckPlan, models: list[BuiltModel],
                     results: list[EquivalenceResult], settings: CheckSettings) -> None:
    """Localise the failing results (every result under ``settings.localize == "all"``) run by
    the reference executor; each model is localised once, its results share the outcome."""
    if settings.localize == "off" or _LOCALISING.get():
        return
    by_label = {m.label: m for m in models}
    by_name = {m.name: m for m in models}
    outcomes: dict[str, dict | str] = {}
    for result in results:
        model = by_label.get(result.model)
        if model is None or result.backend != "reference":
            continue
        if result.passed and settings.localize != "all":
            continue
        if model.label not in outcomes:
            outcomes[model.label] = _localise(plan, model, by_name, result, settings)
        outcome = outcomes[model.label]
        if isinstance(outcome, dict):
            result.localisation = outcome
        else:
            result.notes.append(outcome)


def _localise(plan: CheckPlan, model: BuiltModel, by_name: dict[str, BuiltModel],
              result: EquivalenceResult, settings: CheckSettings) -> dict | str:
    """``Localisation.to_dict()`` of ``model``, or the note saying why it could not run."""
    from . import localize

    token = _LOCALISING.set(True)
    try:
        kind = model.loaded.spec.WhichOneof("Type")
        if kind != "mlProgram":
            raise CheckError(f"{model.label} is a {kind} model: localisation records the ops "
                             "of ML programs only")
        base = _compression_base(model, by_name)
        cache = settings.cache
        found = localize(plan.source, model.model, inputs=plan.input_source,
                         convert=plan.convert if plan.converted is None
                         else reconversion(model.loaded.spec), tolerance=result.tolerance,
                         base=base.model if base is not None else None,
                         fp16_mode=settings.fp16_mode, result=result,
                         cache_dir=cache.directory if cache.mode != "off" else None).to_dict()
        if base is None and not result.passed:
            _add_source_side(found, plan, model, result, settings)
        return found
    except Exception as exc:  # a localisation never fails or passes the check
        return f"localisation could not run: {type(exc).__name__}: {exc}"
    finally:
        _LOCALISING.reset(token)


def _add_source_side(found: dict, plan: CheckPlan, model: BuiltModel,
                     result: EquivalenceResult, settings: CheckSettings) -> None:
    """Conversion localisation (source modules against converted ops, when the source is a
    torch or Keras model) and ``ct.ImageType`` preprocessing fixes (when an input is an
    image), each under its own key; a verified image fix or a divergent module leads the
    summary. One that cannot run leaves a note in ``found["notes"]``."""
    from dataclasses import replace

    from .conversion import localize_conversion
    from .image_fixes import find_image_fix

    notes = found.setdefault("notes", [])
    framework_model = plan.source.framework_model
    if framework_model is not None:
        try:
            conversion = localize_conversion(framework_model, model.model, plan.input_source,
                                             result.tolerance)
        except Exception as exc:  # noqa: BLE001 - reported, never decides the verdict
            notes.append(f"conversion localisation could not run: {type(exc).__name__}: {exc}")
        else:
            found["conversion"] = conversion.to_dict()
            _add_cost(found, conversion.seconds, conversion.extra_runs)
            if conversion.suspect is not None:
                found["summary"] = f"{conversion.summary()}; {found.get('summary', '')}"
    if any(f.kind == "image" for f in describe(model.loaded.spec.description.input)):
        try:
            search = find_image_fix(
                plan.source, plan.input_source,
                convert=plan.convert if plan.converted is None else None,
                converted=model.model if plan.converted is not None else None,
                tolerance=result.tolerance, settings=replace(settings, localize="off"),
                before=[result])
        except Exception as exc:  # noqa: BLE001
            notes.append(f"image preprocessing fixes could not run: {type(exc).__name__}: "
                         f"{exc}")
        else:
            found["image_fix"] = search.to_dict()
            _add_cost(found, search.seconds, search.extra_runs)
            if search.fix is not None:
                found["summary"] = f"{search.summary()}; {found.get('summary', '')}"


def _add_cost(found: dict, seconds: float, extra_runs: int) -> None:
    timing = found.setdefault("timing", {})
    timing["seconds"] = timing.get("seconds", 0.0) + seconds
    timing["extra_runs"] = timing.get("extra_runs", 0) + extra_runs


def _compression_base(model: BuiltModel, by_name: dict[str, BuiltModel]) -> BuiltModel | None:
    """The model a compressed variant was built from (None for the model itself, fp32, fp16)."""
    variant = model.variant
    if variant is None or variant.build is None or variant.base is None:
        return None
    return by_name.get(variant.base)


def reconversion(spec) -> dict | None:
    """``ct.convert`` arguments giving the source the interface of a converted model: a
    ``TensorType`` per input (name, shape, dtype) and the model's deployment target (its
    specification version); None when an input is not a fixed-shape array."""
    import coremltools as ct

    features = describe(spec.description.input)
    if any(f.kind != "array" or f.flexible or f.dtype is None for f in features):
        return None
    return {"inputs": [ct.TensorType(name=f.name, shape=f.shape, dtype=f.dtype.type)
                       for f in features],
            "minimum_deployment_target": ct.target(spec.specificationVersion),
            "convert_to": "mlprogram"}
