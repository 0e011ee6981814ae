"""Training parity: the emulated on-device update of a converted model against the source
model trained with the same optimizer, data, mini-batches and epochs.

``check_update(converted, UpdateCheck(training_data, source_trainer=torch_trainer(model,
layers={...}), held_out=...))`` (or the ``coreml_update_check`` fixture):

1. runs ``ReferenceModel(converted).update(training_data)`` (the spec's loss, optimizer,
   mini-batch size, epochs, shuffle);
2. hands the source trainer a :class:`TrainingPlan` — the resolved hyper-parameters and the
   exact mini-batches of every epoch (same shuffle order) — and gets back a
   :class:`SourceTraining` (trained weights per updatable layer, loss per epoch, predictions);
3. compares, as outputs of one :class:`~.check.result.EquivalenceResult`: every updated weight and
   bias (``weights:<layer>.<part>``, default ``min_snr_db=80``: a relative RMS error of 1e-4),
   the updated models' outputs on ``held_out`` inputs (``updated:<output>``,
   ``min_snr_db=60``) and the loss curve (``loss per epoch``, ``rtol=1e-4, atol=1e-6``).
   ``result.training`` holds both loss curves and the configuration; HTML reports plot them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..check.result import EquivalenceResult
from ..compare.result import OutputResult
from ..compare.tolerance import Tolerance
from ..errors import CheckError

WEIGHTS_TOLERANCE = Tolerance(min_snr_db=80.0)
PREDICTIONS_TOLERANCE = Tolerance(min_snr_db=60.0)
LOSS_TOLERANCE = Tolerance(atol=1e-6, rtol=1e-4)


@dataclass
class TrainingPlan:
    """What the source must train exactly like the converted model."""

    config: Any  # reference.neuralnetwork.training.TrainingConfig
    samples: list[dict[str, Any]]  # keyed by training input name
    batches: list[list[list[int]]]  # per epoch, per mini-batch: sample indices
    loss: str  # "cross_entropy" | "mean_squared_error"
    loss_input: str
    target: str
    layers: list[str]  # updatable Core ML layers
    inputs: list[str]  # the model's input names, in declared order


@dataclass
class SourceTraining:
    """What a source trainer returns."""

    weights: dict[str, dict[str, np.ndarray]]  # Core ML layer -> {"weights", "bias"}
    losses: list[float]
    predict: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None


@dataclass
class UpdateCheck:
    """A training parity check. ``source_trainer(plan) -> SourceTraining``; ``held_out``:
    inputs (list of dicts or dict of arrays, model input names) both updated models predict."""

    training_data: Any
    source_trainer: Callable[[TrainingPlan], SourceTraining]
    held_out: Any = None
    epochs: int | None = None
    parameters: dict | None = None
    last_batch: str = "keep"
    adam_eps: str = "v_hat"
    weights_tolerance: Tolerance = WEIGHTS_TOLERANCE
    predictions_tolerance: Tolerance = PREDICTIONS_TOLERANCE
    loss_tolerance: Tolerance = LOSS_TOLERANCE


def check_update(converted, update: UpdateCheck, *, name: str = "update") -> EquivalenceResult:
    """Run the parity check; a check that cannot run raises :class:`CheckError`."""
    from ..reference import ReferenceModel
    from ..reference.errors import ReferenceError_
    from ..reference.updating import training_samples

    started = time.perf_counter()
    try:
        model = ReferenceModel(converted)
        samples = training_samples(update.training_data, model.name)
        updated = model.update(samples, epochs=update.epochs, parameters=update.parameters,
                               last_batch=update.last_batch, adam_eps=update.adam_eps)
    except ReferenceError_ as exc:
        raise CheckError(f"{name}: the emulated update could not run: {exc}") from exc
    run = updated.training_run
    if run is None:
        raise CheckError(f"{name}: {model.name} is not an updatable NeuralNetwork; training "
                         "parity needs gradient training")
    emulated_s = time.perf_counter() - started
    plan = _plan(model, samples, run)
    try:
        source = update.source_trainer(plan)
    except Exception as exc:
        raise CheckError(f"{name}: the source trainer raised {type(exc).__name__}: {exc}") \
            from exc
    outputs = _weight_results(run.weights, source.weights, update.weights_tolerance)
    outputs.update(_prediction_results(updated, source, update, name))
    loss_name = "loss per epoch"
    outputs[loss_name] = _verdict(loss_name, [(np.asarray(run.losses, np.float64),
                                               np.asarray(source.losses, np.float64))],
                                  update.loss_tolerance)
    result = EquivalenceResult(
        name=name, backend="reference", platform=f"{updated.platform}, training emulated",
        tolerance=update.weights_tolerance, output_results=outputs,
        source=getattr(update.source_trainer, "description", "source trainer"),
        model=model.name, inputs=f"{len(samples)} training samples",
        notes=[_config_note(run.config)],
        timings={"emulated_update_s": round(emulated_s, 3),
                 "source_training_s": round(time.perf_counter() - started - emulated_s, 3)})
    result.training = {"config": run.config.to_dict(),
                       "losses": {"converted": list(run.losses),
                                  "source": [float(v) for v in source.losses]}}
    return result


def _verdict(name: str, pairs, tol: Tolerance) -> OutputResult:
    """Metrics and verdict of (converted, source) array pairs (``compare`` imports PIL, so
    it loads on first use)."""
    from ..compare.verdict import _verdict as verdict

    return verdict(name, pairs, tol, False)


def _plan(model, samples, run) -> TrainingPlan:
    kind = model.spec.WhichOneof("Type")
    nn = getattr(model.spec, kind)
    loss = nn.updateParams.lossLayers[0]
    which = loss.WhichOneof("LossLayerType")
    body = getattr(loss, which)
    return TrainingPlan(run.config, samples, run.batches,
                        "cross_entropy" if which == "categoricalCrossEntropyLossLayer"
                        else "mean_squared_error", body.input, body.target, list(run.weights),
                        [f.name for f in model.inputs])


def _weight_results(converted: dict, source: dict, tol: Tolerance) -> dict[str, OutputResult]:
    out = {}
    for layer, parts in converted.items():
        for part, value in parts.items():
            key = f"weights:{layer}.{part}"
            theirs = source.get(layer, {}).get(part)
            if theirs is None:
                out[key] = OutputResult(key, None, tol, [
                    f"{key}: the source trainer returned no {part} for layer {layer!r} (it "
                    f"returned layers {', '.join(source) or 'none'})"])
                continue
            out[key] = _verdict(key, [(value.astype(np.float64),
                                       np.asarray(theirs, np.float64).reshape(value.shape)
                                       if np.size(theirs) == value.size
                                       else np.asarray(theirs, np.float64))], tol)
    return out


def _prediction_results(updated, source: SourceTraining, update: UpdateCheck,
                        name: str) -> dict[str, OutputResult]:
    if update.held_out is None or source.predict is None:
        return {}
    from ..reference.updating import training_samples

    held = training_samples(update.held_out, name)
    pairs: dict[str, list] = {}
    for feeds in held:
        mine = updated.predict(feeds)
        theirs = source.predict(feeds)
        for key, value in mine.items():
            if key in theirs and not isinstance(value, (dict, str)):
                pairs.setdefault(key, []).append(
                    (np.asarray(value, np.float64).reshape(-1),
                     np.asarray(theirs[key], np.float64).reshape(-1)))
    tol = update.predictions_tolerance
    return {f"updated:{k}": _verdict(f"updated:{k}", v, tol) for k, v in pairs.items()}


def _config_note(config) -> str:
    c = config.to_dict()
    hyper = ", ".join(f"{k}={v}" for k, v in c.items() if k != "optimizer")
    return f"training emulated: {c['optimizer']} ({hyper})"
