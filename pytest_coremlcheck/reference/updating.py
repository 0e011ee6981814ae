"""``ReferenceModel.update`` and ``save``: the emulated ``MLUpdateTask`` and ``MLWritable``.

Training data is keyed by the model's training input names (``description.trainingInput``):
a list of per-sample dicts, a dict of arrays whose first axis counts samples, or a path to an
``.npz`` holding such arrays (string labels as a numpy string array).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, ModelLoadError

NN_KINDS = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")


def training_samples(data, name: str) -> list[dict[str, Any]]:
    """``data`` as one dict per sample."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise InputError(f"{name}: training data {path}: no such file")
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
        if not data:
            raise InputError(f"{name}: training data {path} holds no arrays")
    if isinstance(data, dict):
        counts = {k: len(np.asarray(v)) for k, v in data.items()}
        if len(set(counts.values())) > 1:
            raise InputError(f"{name}: training arrays have different sample counts "
                             f"(first axis): {counts}")
        n = next(iter(counts.values()), 0)
        return [{k: np.asarray(v)[i] for k, v in data.items()} for i in range(n)]
    if isinstance(data, (list, tuple)) and all(isinstance(s, dict) for s in data):
        return list(data)
    raise InputError(f"{name}: training data must be a list of dicts, a dict of arrays or an "
                     f".npz path, got {type(data).__name__}")


def update(model, data, *, epochs: int | None = None, parameters: dict | None = None,
           last_batch: str = "keep", adam_eps: str = "v_hat",
           progress: Callable[[int, float], None] | None = None):
    """(updated spec, TrainingRun or None) for ``model`` (a ReferenceModel)."""
    samples = training_samples(data, model.name)
    kind = model.spec.WhichOneof("Type")
    if kind == "kNearestNeighborsClassifier":
        from .knn import updated_spec

        return updated_spec(model.spec, model.name, samples), None
    if kind not in NN_KINDS:
        raise ModelLoadError(f"{model.name}: model type {kind!r} cannot be updated; updatable "
                             "models are NeuralNetworks and k-NN classifiers")
    from ..coreml.loading import LoadedModel
    from .neuralnetwork.training import Trainer, updated_spec

    trainer = Trainer(LoadedModel(model.spec, None, model.name))
    overrides = dict(parameters or {})
    if epochs is not None:
        overrides["epochs"] = epochs
    config = trainer.config(overrides, last_batch, adam_eps)
    pairs = []
    for i, sample in enumerate(samples):
        feeds, target = trainer.split(sample, i)
        pairs.append((model._convert_inputs(feeds), target))
    run = trainer.train(pairs, config, progress)
    return updated_spec(model.spec, run.weights), run


def save(spec, path, name: str) -> Path:
    """Write ``spec`` as an ``.mlmodel`` (NeuralNetwork and k-NN specs keep their weights in
    the spec)."""
    path = Path(path)
    if path.suffix != ".mlmodel":
        raise InputError(f"{name}: an updated model is saved as .mlmodel, got {path}")
    if spec.WhichOneof("Type") == "mlProgram":
        raise ModelLoadError(f"{name}: ML programs keep weights outside the spec; save them "
                             "with coremltools")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(spec.SerializeToString())
    return path
