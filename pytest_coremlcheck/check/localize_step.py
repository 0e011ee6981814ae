"""Step 4 of a check: where a result's converted model loses accuracy (``localize``), attached
to the result. A localisation never changes a verdict: one that cannot run leaves a note."""

from __future__ import annotations

from contextvars import ContextVar

from ..convert.chain import BuiltModel
from ..errors import CheckError
from ..reference.features import describe
from ..result import EquivalenceResult
from ..settings import CheckSettings
from .plan import CheckPlan

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
    from ..localize import localize

    token = _LOCALISING.set(True)
    try:
        kind = model.loaded.spec.WhichOneof("Type")
        if kind != "mlProgram":
            raise CheckError(f"{model.label} is a {kind} model: localisation records the ops "
                             "of ML programs only")
        base = _compression_base(model, by_name)
        cache = settings.cache
        return localize(plan.source, model.model, inputs=plan.input_source,
                        convert=plan.convert if plan.converted is None
                        else reconversion(model.loaded.spec), tolerance=result.tolerance,
                        base=base.model if base is not None else None,
                        fp16_mode=settings.fp16_mode, result=result,
                        cache_dir=cache.directory if cache.mode != "off" else None).to_dict()
    except Exception as exc:  # a localisation never fails or passes the check
        return f"localisation could not run: {type(exc).__name__}: {exc}"
    finally:
        _LOCALISING.reset(token)


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
