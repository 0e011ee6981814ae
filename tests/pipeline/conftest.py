"""Small torch models (a feature extractor and a classifier head), their conversions, and the
pipelines built from them, once per session."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.proto import Model_pb2
from torch import nn

LABELS = ["cat", "dog", "bird"]
IMAGE_SHAPE = (1, 3, 8, 8)


class FeatureExtractor(nn.Module):
    """conv 3→4 → relu → global mean: (1, 3, 8, 8) → (1, 4)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


class Head(nn.Module):
    """linear 4→3 → softmax: (1, 4) → (1, 3) class probabilities."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, features):
        return torch.softmax(self.fc(features), dim=-1)


@dataclass
class Torch:
    extractor: nn.Module
    head: nn.Module

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, probabilities) of the composed source model."""
        with torch.no_grad():
            features = self.extractor(torch.from_numpy(x))
            return features.numpy(), self.head(features).numpy()


def torch_models() -> Torch:
    torch.manual_seed(0)
    return Torch(FeatureExtractor().eval(), Head().eval())


def convert(model: nn.Module, example: torch.Tensor, inputs, outputs, **kwargs):
    """Trace and convert quietly; ML program for iOS16 unless told otherwise."""
    kwargs.setdefault("minimum_deployment_target", ct.target.iOS16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
        return ct.convert(traced, inputs=inputs, outputs=outputs, skip_model_load=True,
                          **kwargs)


def tensor(name: str, shape=None, dtype=np.float32):
    return ct.TensorType(name=name, shape=shape, dtype=dtype)


def package_spec_path(package: Path) -> Path:
    return Path(package) / "Data" / "com.apple.CoreML" / "model.mlmodel"


def rewrite_package(source: Path, dest: Path, spec) -> Path:
    """A copy of the package ``source`` (weights included) whose spec is ``spec``."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    package_spec_path(dest).write_bytes(spec.SerializeToString())
    return dest


def load_spec(package: Path):
    spec = Model_pb2.Model()
    spec.ParseFromString(package_spec_path(package).read_bytes())
    return spec


def make_pipeline(*models):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.utils.make_pipeline(*models)


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
    paths["pipeline_classifier"] = _as_pipeline_classifier(paths["pipeline_cls"],
                                                           root / "classifier_pipe.mlpackage")
    return paths


def _as_pipeline_classifier(package: Path, dest: Path) -> Path:
    spec = load_spec(package)
    classifier = Model_pb2.Model()
    classifier.specificationVersion = spec.specificationVersion
    classifier.description.CopyFrom(spec.description)
    last = spec.pipeline.models[-1].description
    classifier.description.predictedFeatureName = last.predictedFeatureName
    classifier.description.predictedProbabilitiesName = last.predictedProbabilitiesName
    classifier.pipelineClassifier.pipeline.CopyFrom(spec.pipeline)
    return rewrite_package(package, dest, classifier)
