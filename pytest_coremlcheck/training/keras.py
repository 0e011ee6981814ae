"""The Keras source trainer of a training parity check: a ``GradientTape`` loop with tf_keras
optimizers on the plan's exact mini-batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .parity import SourceTraining, TrainingPlan


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
