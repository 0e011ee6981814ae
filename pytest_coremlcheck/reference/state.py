"""Model state (iOS18 stateful models): ``ReferenceModel.make_state()`` like ``MLModel``'s."""

from __future__ import annotations

import numpy as np

from ..coreml.features import Feature
from .errors import InputError


class StateCell:
    """One state buffer; ops read and overwrite ``value`` (a torch tensor) in place."""

    __slots__ = ("name", "value", "fp16")

    def __init__(self, name: str, value, fp16: bool):
        self.name = name
        self.value = value
        self.fp16 = fp16


class ReferenceState:
    """The states of one model, initialised to zeros as ``MLModel.make_state()`` does.

    ``read(name)`` returns a copy of a state as a numpy array; ``write(name, array)`` sets it.
    """

    def __init__(self, features: list[Feature], model_name: str):
        import torch

        self.model_name = model_name
        self.features = {f.name: f for f in features}
        self.cells = {
            f.name: StateCell(f.name, torch.zeros(f.shape, dtype=torch.float32),
                              f.dtype == np.float16)
            for f in features
        }

    def read(self, name: str) -> np.ndarray:
        cell = self._cell(name)
        return cell.value.numpy().astype(self.features[name].dtype)

    def write(self, name: str, array) -> None:
        import torch

        cell = self._cell(name)
        array = np.asarray(array)
        expected = self.features[name].shape
        if tuple(array.shape) != tuple(expected):
            raise InputError(f"{self.model_name}: state {name!r} has shape {tuple(expected)}, "
                             f"got {tuple(array.shape)}")
        value = torch.from_numpy(array.astype(np.float32))
        cell.value = value.to(torch.float16).float() if cell.fp16 else value

    def _cell(self, name: str) -> StateCell:
        if name not in self.cells:
            raise InputError(f"{self.model_name}: no state {name!r}; the model's states are "
                             f"{', '.join(self.cells) or '(none)'}")
        return self.cells[name]
