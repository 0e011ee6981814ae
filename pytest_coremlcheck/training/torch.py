"""The torch source trainer of a training parity check: ``torch.optim.SGD`` or ``Adam`` on the
plan's exact mini-batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import CheckError
from .parity import SourceTraining, TrainingPlan


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
