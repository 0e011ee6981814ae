"""One update of an updatable NeuralNetwork, as ``MLUpdateTask`` runs it.

Per epoch the samples are (optionally) shuffled and cut into mini-batches of
``mini_batch_size`` (see :mod:`.config` for the last partial batch and the shuffle order).
Per mini-batch: every sample runs forward through the whole network in float32, the loss layer
compares the declared input blob with the sample's target (:mod:`.loss`), the mean over the
batch is back-propagated through the non-updatable layers into the weights and biases of the
layers marked ``isUpdatable`` (only those are trained), and the optimizer updates them once
(:mod:`.optimizers`). The loss curve holds, per epoch, the mean loss of its samples as computed
before each mini-batch's step (what Keras reports as an epoch's loss).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import InputError
from ..engine import NeuralNetworkEngine
from . import loss as _loss
from . import optimizers
from .config import TrainingConfig, resolve
from .validate import validate_training


@dataclass
class TrainingRun:
    """What an update did."""

    config: TrainingConfig
    losses: list[float]  # mean loss per epoch
    order: list[list[int]]  # sample indices per epoch, in training order
    weights: dict[str, dict[str, np.ndarray]]  # layer -> {"weights", "bias"} after training
    seconds: float = 0.0
    batches: list[list[list[int]]] = field(default_factory=list)  # per epoch, per batch

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "losses": self.losses,
                "layers": {n: {p: list(a.shape) for p, a in parts.items()}
                           for n, parts in self.weights.items()},
                "seconds": round(self.seconds, 3)}


class Trainer:
    """Compiles an updatable NeuralNetwork once for training; ``train`` runs one update."""

    def __init__(self, loaded):
        spec = loaded.spec
        self.name = loaded.name
        validate_training(spec, self.name)
        self.spec = spec
        self.engine = NeuralNetworkEngine(loaded, "fp32")
        network = self.engine.network
        network.plan_frees(network.produced() | {f.name for f in self.engine.inputs})
        self.layers = {s.name: s.parameters for s in network.steps if s.parameters}
        nn = getattr(spec, spec.WhichOneof("Type"))
        self.params = nn.updateParams
        loss = self.params.lossLayers[0]
        self.loss_kind = loss.WhichOneof("LossLayerType")
        body = getattr(loss, self.loss_kind)
        self.loss_input, self.target = body.input, body.target
        self.softmax_input = None
        if self.loss_kind == _loss.CCE:
            self.softmax_input = network.producer(body.input).inputs[0]
        classifier = self.engine.classifier
        self.labels = classifier.labels if classifier is not None else None
        self.label_input = spec.description.predictedFeatureName if classifier else None

    @property
    def target_names(self) -> list[str]:
        """Training inputs that are not model inputs (the loss target)."""
        names = [self.target]
        if self.label_input:
            names.append(self.label_input)
        return names

    def config(self, overrides: dict | None = None, last_batch: str = "keep",
               adam_eps: str = "v_hat") -> TrainingConfig:
        return resolve(self.params, self.name, overrides, last_batch, adam_eps)

    def train(self, samples: list[tuple[dict, object]], config: TrainingConfig,
              progress: Callable[[int, float], None] | None = None) -> TrainingRun:
        """``samples``: (model input feeds, target value) pairs, feeds as ``predict`` takes
        them after conversion. ``progress(epoch, loss)`` is called after each epoch."""
        if not samples:
            raise InputError(f"{self.name}: no training samples")
        started = time.perf_counter()
        opt = optimizers.build(config)
        params = [t for parts in self.layers.values() for t in parts.values()]
        for p in params:
            p.requires_grad_(True)
        rng = np.random.default_rng(config.seed)
        losses, order, batches = [], [], []
        try:
            for epoch in range(config.epochs):
                indices = (rng.permutation(len(samples)) if config.shuffle
                           else np.arange(len(samples)))
                cut = _batches([int(i) for i in indices], config.mini_batch_size,
                               config.last_batch)
                total = 0.0
                for batch in cut:
                    total += self._step(samples, batch, params, opt) * len(batch)
                seen = sum(len(b) for b in cut)
                losses.append(total / seen if seen else float("nan"))
                order.append([i for b in cut for i in b])
                batches.append(cut)
                if progress is not None:
                    progress(epoch + 1, losses[-1])
        finally:
            for p in params:
                p.requires_grad_(False)
                p.grad = None
        weights = {name: {part: t.detach().numpy().copy() for part, t in parts.items()}
                   for name, parts in self.layers.items()}
        return TrainingRun(config, losses, order, weights, time.perf_counter() - started,
                           batches)

    def _step(self, samples, batch: list[int], params, opt) -> float:
        for p in params:
            p.grad = None
        with torch.enable_grad():
            per_sample = [self.sample_loss(*samples[i], where=f"sample {i}") for i in batch]
            mean = torch.stack(per_sample).mean()
            mean.backward()
        opt.step(params)
        return float(mean.detach())

    def sample_loss(self, feeds: dict, target, where: str = "sample") -> torch.Tensor:
        """The loss of one sample (a 0-d tensor attached to the updatable weights)."""
        env = {f.name: self.engine.input_blob(f, feeds[f.name])
               for f in self.engine.inputs if f.name in feeds}
        self.engine.network.run(env)
        where = f"{self.name}: {where}, target {self.target!r}"
        if self.loss_kind == _loss.CCE:
            logits = env[self.softmax_input]
            dim = -3 if logits.dim() >= 3 else 0
            index = _loss.class_index(target, self.labels, logits.shape[dim], where)
            return _loss.cross_entropy(logits, dim, index)
        value = env[self.loss_input]
        return _loss.mean_squared_error(value, _loss.mse_target(target, value.numel(), where))

    def split(self, sample: dict, index: int) -> tuple[dict, object]:
        """(model input values, target value) of one training sample keyed by feature name."""
        for name in self.target_names:
            if name in sample:
                feeds = {k: v for k, v in sample.items() if k != name}
                return feeds, sample[name]
        raise InputError(f"{self.name}: training sample {index} has no target "
                         f"{' or '.join(map(repr, self.target_names))}; it has "
                         f"{', '.join(sorted(sample))}")


def _batches(indices: list[int], size: int, last_batch: str) -> list[list[int]]:
    cut = [indices[i:i + size] for i in range(0, len(indices), size)]
    if last_batch == "drop" and cut and len(cut[-1]) < size:
        cut.pop()
    return cut


def updated_spec(spec, weights: dict[str, dict[str, np.ndarray]]):
    """A copy of ``spec`` with the trained ``weights`` written as float32 ``floatValue``."""
    out = copy.deepcopy(spec)
    nn = getattr(out, out.WhichOneof("Type"))
    for layer in nn.layers:
        if layer.name not in weights:
            continue
        params = getattr(layer, layer.WhichOneof("layer"))
        for part, array in weights[layer.name].items():
            wp = getattr(params, part)
            wp.ClearField("floatValue")
            wp.floatValue.extend(np.asarray(array, dtype=np.float32).reshape(-1).tolist())
    return out
