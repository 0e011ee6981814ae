"""Build the pipeline examples: extractor + head embedded, and the same with the extractor
linked (a ``linkedModel`` stage naming ``FeatureExtractor.mlmodelc``, as an app bundle holds it)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import coremltools as ct
import torch
import zoo
from coremltools.proto import Model_pb2

SEARCH_PATH = "$BUNDLE_MAIN:."


def _convert(model, example, inputs, outputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.convert(torch.jit.trace(model, example), inputs=inputs, outputs=outputs,
                          minimum_deployment_target=ct.target.iOS16, skip_model_load=True)


def build(directory: Path) -> dict[str, Path]:
    """``Embedded.mlpackage`` and ``linked/Linked.mlpackage`` (+ its extractor) in
    ``directory``."""
    size = zoo.IMAGE_SIZE
    extractor = _convert(zoo.feature_extractor(), torch.rand(1, 3, size, size),
                         [ct.ImageType(name="image", shape=(1, 3, size, size), scale=1 / 255)],
                         [ct.TensorType(name="embedding")])
    head = _convert(zoo.classifier_head(), torch.rand(1, 64),
                    [ct.TensorType(name="embedding", shape=(1, 64))],
                    [ct.TensorType(name="probabilities")])
    embedded = directory / "Embedded.mlpackage"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct.utils.make_pipeline(extractor, head).save(str(embedded))
    linked_dir = directory / "linked"
    linked_dir.mkdir(parents=True, exist_ok=True)
    extractor.save(str(linked_dir / "FeatureExtractor.mlpackage"))
    linked = linked_dir / "Linked.mlpackage"
    shutil.copytree(embedded, linked)
    spec_file = linked / "Data" / "com.apple.CoreML" / "model.mlmodel"
    spec = Model_pb2.Model()
    spec.ParseFromString(spec_file.read_bytes())
    stage = spec.pipeline.models[0]
    link = Model_pb2.Model()
    link.specificationVersion = stage.specificationVersion
    link.description.CopyFrom(stage.description)
    link.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = (
        "FeatureExtractor.mlmodelc")
    link.linkedModel.linkedModelFile.linkedModelSearchPath.defaultValue = SEARCH_PATH
    stage.CopyFrom(link)
    spec_file.write_bytes(spec.SerializeToString())
    return {"embedded": embedded, "linked": linked}
