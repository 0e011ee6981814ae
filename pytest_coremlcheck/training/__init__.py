"""Training parity of updatable models: ``parity`` runs the emulated on-device update and
compares it with the source trained alike by ``torch_trainer`` (``torch``) or
``keras_trainer`` (``keras``)."""

from .keras import keras_trainer
from .parity import (
    LOSS_TOLERANCE,
    PREDICTIONS_TOLERANCE,
    WEIGHTS_TOLERANCE,
    SourceTraining,
    TrainingPlan,
    UpdateCheck,
    check_update,
)
from .torch import torch_trainer

__all__ = ["UpdateCheck", "check_update", "torch_trainer", "keras_trainer", "TrainingPlan",
           "SourceTraining", "WEIGHTS_TOLERANCE", "PREDICTIONS_TOLERANCE", "LOSS_TOLERANCE"]
