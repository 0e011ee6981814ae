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

from .check.result import EquivalenceResult
from .compare.result import OutputResult
from .compare.tolerance import Tolerance
from .errors import CheckError

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
    from .reference import ReferenceModel
    from .reference.errors import ReferenceError_
    from .reference.updating import training_samples

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
    from .compare.verdict import _verdict as verdict

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
    from .reference.updating import training_samples

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


def torch_trainer(model, layers: dict[str, Any], *, inputs: list[str] | None = None,
                  outputs: list[str] | None = None) -> Callable[[TrainingPlan], SourceTraining]:
    """A source trainer for a torch model whose forward returns what the Core ML loss reads
    (softmax probabilities for cross-entropy, the regression output for MSE).

    ``layers`` maps each updatable Core ML layer to the ``torch.nn.Linear`` / ``Conv2d`` it
    was built from (same weight layouts: [out, in] and [out, in, kH, kW]); only those train,
    with ``torch.optim.SGD`` (momentum, no dampening) or ``torch.optim.Adam``. ``inputs``:
    the Core ML input names fed to ``forward`` in order (default: the model's inputs);
    ``outputs``: names for the returned predictions (default: the plan's loss input).
    The model is deep-copied: the caller's weights never change.
    """
    import copy

    import torch

    def train(plan: TrainingPlan) -> SourceTraining:
        net = copy.deepcopy(model).train(False)
        modules = {name: _find(net, model, module) for name, module in layers.items()}
        for p in net.parameters():
            p.requires_grad_(False)
        params = [p for m in modules.values() for p in m.parameters()]
        for p in params:
            p.requires_grad_(True)
        opt = _torch_optimizer(torch, params, plan.config)
        names = inputs or plan.inputs
        losses = []
        for epoch in plan.batches:
            total, seen = 0.0, 0
            for batch in epoch:
                opt.zero_grad()
                per = [_torch_loss(torch, net, plan, plan.samples[i], names) for i in batch]
                loss = torch.stack(per).mean()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(batch)
                seen += len(batch)
            losses.append(total / seen if seen else float("nan"))
        weights = {name: {"weights": m.weight.detach().numpy().copy(),
                          **({"bias": m.bias.detach().numpy().copy()}
                             if m.bias is not None else {})}
                   for name, m in modules.items()}
        keys = outputs or [plan.loss_input]

        def predict(feeds):
            with torch.no_grad():
                out = net(*[_tensor(torch, feeds[n]) for n in names])
            out = out if isinstance(out, (tuple, list)) else [out]
            return {k: v.numpy() for k, v in zip(keys, out)}

        return SourceTraining(weights, losses, predict)

    train.description = f"{type(model).__name__} (torch, trained with torch.optim)"
    return train


def _find(copy_net, original, module):
    """The module of the deep copy at the original ``module``'s position."""
    for (name, m) in original.named_modules():
        if m is module:
            return copy_net.get_submodule(name)
    raise CheckError(f"torch_trainer: layer module {type(module).__name__} is not part of the "
                     "source model")


def _tensor(torch, value):
    return torch.from_numpy(np.asarray(value, dtype=np.float32)).unsqueeze(0)


def _torch_optimizer(torch, params, config):
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.learning_rate,
                               momentum=config.hyper.get("momentum", 0.0))
    h = config.hyper
    return torch.optim.Adam(params, lr=config.learning_rate, betas=(h["beta1"], h["beta2"]),
                            eps=h["eps"])


def _torch_loss(torch, net, plan: TrainingPlan, sample: dict, names: list[str]):
    out = net(*[_tensor(torch, sample[n]) for n in names])
    out = out[0] if isinstance(out, (tuple, list)) else out
    target = sample[plan.target]
    if plan.loss == "cross_entropy":
        index = int(np.asarray(target).reshape(-1)[0])
        return -torch.log(out.reshape(-1)[index])
    t = torch.from_numpy(np.asarray(target, dtype=np.float32)).reshape(out.shape)
    return torch.mean((out - t) ** 2)


def keras_trainer(model, layers: dict[str, Any], *, inputs: list[str] | None = None,
                  to_source: Callable[[str, np.ndarray], np.ndarray] | None = None,
                  outputs: list[str] | None = None) -> Callable[[TrainingPlan], SourceTraining]:
    """A source trainer for a Keras 2 (``tf_keras``) model whose output is what the Core ML
    loss reads, trained with a ``GradientTape`` loop on the plan's exact mini-batches and the
    Keras optimizer the spec names (``SGD(momentum)``, ``Adam(beta_1, beta_2, epsilon)``).

    ``layers`` maps each updatable Core ML layer to the ``Dense`` / ``Conv2D`` layer it was
    built from; their weights come back in Core ML's layout (Dense kernel [in, out] →
    [out, in], Conv2D kernel [kH, kW, in, out] → [out, in, kH, kW]). ``to_source(name,
    array)`` turns one Core ML input sample into the Keras one (e.g. CHW → HWC). The model is
    cloned: the caller's weights never change. Keras's Adam adds ε to √v̂·√(1 − β2ᵗ)
    (``epsilon_hat``), a difference far below the default weight tolerance for small ε.
    """
    def train(plan: TrainingPlan) -> SourceTraining:
        import tensorflow as tf
        import tf_keras

        net = tf_keras.models.clone_model(model)
        net.set_weights(model.get_weights())
        index = {layer.name: i for i, layer in enumerate(model.layers)}
        chosen = {name: net.layers[index[layer.name]] for name, layer in layers.items()}
        variables = [v for layer in chosen.values() for v in layer.trainable_variables]
        opt = _keras_optimizer(tf_keras, plan.config)
        names = inputs or plan.inputs
        convert = to_source or (lambda name, array: array)

        def batch_inputs(rows):
            return [tf.constant(np.stack([convert(n, np.asarray(r[n], np.float32))
                                          for r in rows])) for n in names]

        losses = []
        for epoch in plan.batches:
            total, seen = 0.0, 0
            for batch in epoch:
                rows = [plan.samples[i] for i in batch]
                with tf.GradientTape() as tape:
                    out = net(batch_inputs(rows), training=False)
                    loss = _keras_loss(tf, plan, out, rows)
                opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
                total += float(loss) * len(batch)
                seen += len(batch)
            losses.append(total / seen if seen else float("nan"))
        weights = {name: _keras_weights(layer) for name, layer in chosen.items()}
        keys = outputs or [plan.loss_input]

        def predict(feeds):
            out = net(batch_inputs([feeds]), training=False)
            out = out if isinstance(out, (tuple, list)) else [out]
            return {k: np.asarray(v) for k, v in zip(keys, out)}

        return SourceTraining(weights, losses, predict)

    train.description = f"{model.name} (Keras, trained with tf_keras optimizers)"
    return train


def _keras_optimizer(tf_keras, config):
    if config.optimizer == "sgd":
        return tf_keras.optimizers.SGD(learning_rate=config.learning_rate,
                                       momentum=config.hyper.get("momentum", 0.0))
    h = config.hyper
    return tf_keras.optimizers.Adam(learning_rate=config.learning_rate, beta_1=h["beta1"],
                                    beta_2=h["beta2"], epsilon=h["eps"])


def _keras_loss(tf, plan: TrainingPlan, out, rows):
    if plan.loss == "cross_entropy":
        index = [int(np.asarray(r[plan.target]).reshape(-1)[0]) for r in rows]
        picked = tf.gather(tf.reshape(out, (len(rows), -1)), index, axis=1, batch_dims=1)
        return tf.reduce_mean(-tf.math.log(picked))
    target = np.stack([np.asarray(r[plan.target], np.float32).reshape(-1) for r in rows])
    return tf.reduce_mean(tf.square(tf.reshape(out, target.shape) - target))


def _keras_weights(layer) -> dict[str, np.ndarray]:
    kernel, *rest = [np.asarray(w) for w in layer.get_weights()]
    kernel = kernel.T if kernel.ndim == 2 else kernel.transpose(3, 2, 0, 1)
    return {"weights": kernel, **({"bias": rest[0]} if rest else {})}
