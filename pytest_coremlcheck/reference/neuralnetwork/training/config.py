"""The hyper-parameters of an update: the spec's defaults, overridable like ``MLParameterKey``.

An override must lie inside the range or set the spec allows for that parameter (Core ML
refuses an ``MLUpdateTask`` configured outside them). Keys: ``epochs``, ``learning_rate``,
``mini_batch_size``, ``momentum`` (SGD), ``beta1``, ``beta2``, ``eps`` (Adam), ``shuffle``,
``seed``.

Choices where Core ML documents nothing (parameters of :class:`TrainingConfig`):

- ``last_batch``: ``"keep"`` (default) trains on the final, smaller mini-batch of an epoch
  when the sample count is not a multiple of ``mini_batch_size``, like Keras ``fit`` and torch's
  ``DataLoader``; ``"drop"`` skips it.
- shuffling: with ``shuffle`` true, the samples are permuted before every epoch (the first
  one included) by ``numpy.random.default_rng(seed).permutation``, one generator per update;
  ``seed`` is the spec's ``updateParams.seed`` (0 when unset).
- ``adam_eps``: where Adam adds ε (:mod:`.optimizers`): ``"v_hat"`` (default; to
  ``√v̂``, as in the Adam paper and torch) or ``"v"`` (to ``√v`` before the bias correction,
  as tf.keras does: an effective ``ε/√(1 − β2ᵗ)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .validate import TrainingSetupError, check_parameter

SPEC_FIELDS = {
    "learning_rate": "learningRate", "mini_batch_size": "miniBatchSize",
    "momentum": "momentum", "beta1": "beta1", "beta2": "beta2", "eps": "eps",
}
LAST_BATCH = ("keep", "drop")
ADAM_EPS = ("v_hat", "v")


@dataclass
class TrainingConfig:
    """Resolved hyper-parameters of one update."""

    optimizer: str  # "sgd" | "adam"
    learning_rate: float
    mini_batch_size: int
    epochs: int
    hyper: dict[str, float] = field(default_factory=dict)  # momentum | beta1, beta2, eps
    shuffle: bool = False
    seed: int = 0
    last_batch: str = "keep"
    adam_eps: str = "v_hat"

    def to_dict(self) -> dict:
        return {"optimizer": self.optimizer, "learning_rate": self.learning_rate,
                "mini_batch_size": self.mini_batch_size, "epochs": self.epochs, **self.hyper,
                "shuffle": self.shuffle, "seed": self.seed, "last_batch": self.last_batch,
                **({"adam_eps": self.adam_eps} if self.optimizer == "adam" else {})}


def resolve(params, name: str, overrides: dict | None = None,
            last_batch: str = "keep", adam_eps: str = "v_hat") -> TrainingConfig:
    """The configuration of ``updateParams`` with ``overrides`` applied and checked."""
    overrides = dict(overrides or {})

    def fail(message: str):
        raise TrainingSetupError(f"{name}: {message}")

    if last_batch not in LAST_BATCH:
        fail(f"last_batch {last_batch!r}; expected one of {', '.join(LAST_BATCH)}")
    if adam_eps not in ADAM_EPS:
        fail(f"adam_eps {adam_eps!r}; expected one of {', '.join(ADAM_EPS)}")
    kind = params.optimizer.WhichOneof("OptimizerType")
    opt = getattr(params.optimizer, kind)
    keys = ["learning_rate", "mini_batch_size"] + (
        ["momentum"] if kind == "sgdOptimizer" else ["beta1", "beta2", "eps"])
    known = set(keys) | {"epochs", "shuffle", "seed"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        fail(f"unknown training parameter(s) {', '.join(unknown)}; this model's are "
             f"{', '.join(sorted(known))}")
    values = {}
    for key in keys:
        values[key] = _value(getattr(opt, SPEC_FIELDS[key]), overrides.get(key),
                             f"updateParams.optimizer.{kind}.{SPEC_FIELDS[key]}", key, fail)
    epochs = _value(params.epochs, overrides.get("epochs"), "updateParams.epochs", "epochs",
                    fail)
    seed = _value(params.seed, overrides.get("seed"), "updateParams.seed", "seed", fail) \
        if params.HasField("seed") or "seed" in overrides else 0
    shuffle = bool(overrides.get("shuffle", params.shuffle.defaultValue))
    return TrainingConfig(
        "sgd" if kind == "sgdOptimizer" else "adam", float(values.pop("learning_rate")),
        int(values.pop("mini_batch_size")), int(epochs),
        {k: float(v) for k, v in values.items()}, shuffle, int(seed), last_batch, adam_eps)


def _value(param, override, where: str, key: str, fail):
    if override is None:
        return param.defaultValue
    positive = key in ("mini_batch_size", "epochs")
    check_parameter(param, f"{where} (override {key}={override})", positive=positive,
                    fail=fail, value=override)
    return override
