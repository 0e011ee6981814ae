"""Moved to ``training``; this path is kept for one release."""

from .training import (  # noqa: F401
    LOSS_TOLERANCE,
    PREDICTIONS_TOLERANCE,
    WEIGHTS_TOLERANCE,
    SourceTraining,
    TrainingPlan,
    UpdateCheck,
    check_update,
    keras_trainer,
    torch_trainer,
)
