"""Small torch models (a feature extractor and a classifier head), their conversion, and the
spec edits the pipeline tests make."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import coremltools as ct
import numpy as np
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


def as_pipeline_classifier(package: Path, dest: Path) -> Path:
    """A copy of the pipeline ``package`` as a ``pipelineClassifier`` at ``dest``."""
    spec = load_spec(package)
    classifier = Model_pb2.Model()
    classifier.specificationVersion = spec.specificationVersion
    classifier.description.CopyFrom(spec.description)
    last = spec.pipeline.models[-1].description
    classifier.description.predictedFeatureName = last.predictedFeatureName
    classifier.description.predictedProbabilitiesName = last.predictedProbabilitiesName
    classifier.pipelineClassifier.pipeline.CopyFrom(spec.pipeline)
    return rewrite_package(package, dest, classifier)
