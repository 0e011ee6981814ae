"""The pipeline tests' sources, example and converted stages and pipelines, once per session."""

from __future__ import annotations

from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch

from .helpers import (
    IMAGE_SHAPE,
    LABELS,
    Torch,
    as_pipeline_classifier,
    convert,
    make_pipeline,
    tensor,
    torch_models,
)


@pytest.fixture(scope="session")
def sources() -> Torch:
    return torch_models()


@pytest.fixture(scope="session")
def example() -> np.ndarray:
    return np.random.default_rng(0).random(IMAGE_SHAPE, dtype=np.float32)


@pytest.fixture(scope="session")
def built(tmp_path_factory, sources) -> dict[str, Path]:
    """Converted stages and pipelines, saved as files:

    - ``extractor32``/``head32``: fp32 ML programs; ``pipeline32`` joins them;
    - ``extractor16``/``head16``: fp16 ML programs with an fp16 ``features`` boundary;
      ``pipeline16`` joins them;
    - ``classifier``: an fp32 ML program classifier head (labels ``LABELS``);
      ``pipeline_classifier``: extractor + classifier as a ``pipelineClassifier``.
    """
    root = tmp_path_factory.mktemp("pipelines")
    x = torch.rand(IMAGE_SHAPE)
    f = torch.rand(1, 4)
    fp32 = {"compute_precision": ct.precision.FLOAT32}
    models = {
        "extractor32": convert(sources.extractor, x, [tensor("x", IMAGE_SHAPE)],
                               [tensor("features")], **fp32),
        "head32": convert(sources.head, f, [tensor("features", (1, 4))], [tensor("probs")],
                          **fp32),
        "extractor16": convert(sources.extractor, x, [tensor("x", IMAGE_SHAPE)],
                               [tensor("features", dtype=np.float16)]),
        "head16": convert(sources.head, f, [tensor("features", (1, 4), np.float16)],
                          [tensor("probs")]),
        "classifier": convert(sources.head, f, [tensor("features", (1, 4))], None,
                              classifier_config=ct.ClassifierConfig(LABELS), **fp32),
    }
    models["pipeline32"] = make_pipeline(models["extractor32"], models["head32"])
    models["pipeline16"] = make_pipeline(models["extractor16"], models["head16"])
    models["pipeline_cls"] = make_pipeline(models["extractor32"], models["classifier"])
    paths = {}
    for name, model in models.items():
        paths[name] = root / f"{name}.mlpackage"
        model.save(str(paths[name]))
    paths["pipeline_classifier"] = as_pipeline_classifier(paths["pipeline_cls"],
                                                           root / "classifier_pipe.mlpackage")
    return paths
