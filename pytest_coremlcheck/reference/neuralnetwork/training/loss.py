"""The two loss layers of ``NetworkUpdateParameters`` (``NeuralNetwork.proto``), per sample.

- Categorical cross-entropy: ``L = −log(input[target])``, ``input`` the output of a softmax
  layer over N classes and ``target`` a class index in [0, N) (or, for a classifier whose
  training input is ``predictedFeatureName``, a class label mapped to its index). Computed as
  ``−log_softmax(z)[target]`` from the softmax's own input ``z`` (the same value, without the
  overflow of ``log(softmax)`` when a probability rounds to 0).
- Mean squared error: ``L = mean((input − target)²)`` over the input's elements; ``target``
  holds as many elements as ``input``.

A mini-batch's loss is the mean of its samples' losses (Core ML documents no reduction; Keras
and torch average over the batch).
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import InputError

CCE = "categoricalCrossEntropyLossLayer"
MSE = "meanSquaredErrorLossLayer"


def cross_entropy(logits: torch.Tensor, dim: int, index: int) -> torch.Tensor:
    """``−log softmax(logits)[index]`` along ``dim``."""
    return -torch.log_softmax(logits, dim=dim).select(dim, index).reshape(-1)[0]


def mean_squared_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((value − target)²)``."""
    return torch.mean((value - target.reshape(value.shape)) ** 2)


def class_index(value, labels: list | None, classes: int, where: str) -> int:
    """The class index a cross-entropy target names (an index, or a label of ``labels``)."""
    if labels is not None and not isinstance(value, (np.ndarray, list, tuple)):
        if value not in labels:
            raise InputError(f"{where}: label {value!r} is not a class label of the model "
                             f"({', '.join(map(str, labels[:10]))}…)")
        return labels.index(value)
    array = np.asarray(value).reshape(-1)
    if array.size != 1 or array.dtype.kind not in "iuf" or float(array[0]) != int(array[0]):
        raise InputError(f"{where}: expected one integer class index, got "
                         f"{np.asarray(value).tolist()!r}")
    index = int(array[0])
    if not 0 <= index < classes:
        raise InputError(f"{where}: class index {index} is outside [0, {classes - 1}]")
    return index


def mse_target(value, size: int, where: str) -> torch.Tensor:
    """A mean-squared-error target as a float32 tensor of ``size`` elements."""
    array = np.asarray(value, dtype=np.float32)
    if array.size != size:
        raise InputError(f"{where}: target has {array.size} values, the loss input {size}")
    return torch.from_numpy(array.reshape(-1).copy())
