"""SGD with momentum and Adam, applied in place to the updatable layers' tensors (float32).

Core ML names the hyper-parameters (``SGDOptimizer``: learning rate η, mini-batch size,
momentum μ; ``AdamOptimizer``: η, β1, β2, ε) but not the update rules; these are the standard
ones, as torch and Keras implement them (g: the gradient of the mini-batch's mean loss, t: the
step count from 1):

- SGD: ``v ← μ·v + g``, ``w ← w − η·v`` (v starts at 0; μ = 0 is plain SGD). Keras's
  ``v ← μ·v − η·g, w ← w + v`` gives the same weights for a constant η.
- Adam: ``m ← β1·m + (1 − β1)·g``, ``v ← β2·v + (1 − β2)·g²``,
  ``w ← w − η·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)`` (``adam_eps="v_hat"``, the Adam
  paper's and torch's rule), or with ε added to ``√v`` instead (``adam_eps="v"``, tf.keras:
  ``w ← w − η·√(1 − β2ᵗ)/(1 − β1ᵗ)·m / (√v + ε)``). The two differ only where √v̂ is not
  much larger than ε.
"""

from __future__ import annotations

import torch


class SGD:
    def __init__(self, learning_rate: float, momentum: float = 0.0):
        self.lr, self.momentum = learning_rate, momentum
        self.velocity: dict[int, torch.Tensor] = {}

    def step(self, params: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p in params:
                v = self.velocity.get(id(p))
                v = p.grad.clone() if v is None else v.mul_(self.momentum).add_(p.grad)
                self.velocity[id(p)] = v
                p.sub_(self.lr * v)


class Adam:
    def __init__(self, learning_rate: float, beta1: float, beta2: float, eps: float,
                 eps_on: str = "v_hat"):
        self.lr, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.eps_on = eps_on
        self.t = 0
        self.moments: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def step(self, params: list[torch.Tensor]) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        with torch.no_grad():
            for p in params:
                m, v = self.moments.get(id(p)) or (torch.zeros_like(p), torch.zeros_like(p))
                m.mul_(b1).add_((1 - b1) * p.grad)
                v.mul_(b2).add_((1 - b2) * p.grad * p.grad)
                self.moments[id(p)] = (m, v)
                m_hat = m / (1 - b1 ** self.t)
                v_hat = v / (1 - b2 ** self.t)
                eps = self.eps if self.eps_on == "v_hat" else \
                    self.eps / (1 - b2 ** self.t) ** 0.5
                p.sub_(self.lr * m_hat / (v_hat.sqrt() + eps))


def build(config):
    """The optimizer a :class:`~.config.TrainingConfig` declares."""
    if config.optimizer == "sgd":
        return SGD(config.learning_rate, config.hyper.get("momentum", 0.0))
    h = config.hyper
    return Adam(config.learning_rate, h["beta1"], h["beta2"], h["eps"], config.adam_eps)
