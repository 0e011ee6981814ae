"""On-device training (``MLUpdateTask``) of updatable NeuralNetworks, emulated with torch.

- :mod:`.validate`: the training set-up checked as Core ML's validator does;
- :mod:`.config`: the hyper-parameters the spec declares, with overrides checked against the
  allowed ranges and sets (``MLParameterKey``);
- :mod:`.loss`: categorical cross-entropy and mean squared error;
- :mod:`.optimizers`: SGD with momentum and Adam;
- :mod:`.update`: mini-batches, epochs, shuffling and the updated spec.
"""

from .config import TrainingConfig
from .update import Trainer, TrainingRun, updated_spec
from .validate import TrainingSetupError, validate_training

__all__ = ["TrainingConfig", "Trainer", "TrainingRun", "updated_spec", "TrainingSetupError",
           "validate_training"]
