"""Build the pipeline examples: extractor + head embedded, and the same with the extractor
linked (a ``linkedModel`` stage naming ``FeatureExtractor.mlmodelc``, as an app bundle holds it)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import coremltools as ct
import zoo
from coremltools.proto import Model_pb2

SEARCH_PATH = "$BUNDLE_MAIN:."


def build(directory: Path, convert) -> dict[str, Path]:
    """``Embedded.mlpackage`` and ``linked/Linked.mlpackage`` (+ its extractor) in
    ``directory``; ``convert`` is the ``coreml_convert`` fixture (``ct.convert`` through the
    conversion cache)."""
    size = zoo.IMAGE_SIZE
    extractor = convert(zoo.feature_extractor(),
                        inputs=[ct.ImageType(name="image", shape=(1, 3, size, size),
                                             scale=1 / 255)],
                        outputs=[ct.TensorType(name="embedding")],
                        minimum_deployment_target=ct.target.iOS16)
    head = convert(zoo.classifier_head(),
                   inputs=[ct.TensorType(name="embedding", shape=(1, 64))],
                   outputs=[ct.TensorType(name="probabilities")],
                   minimum_deployment_target=ct.target.iOS16)
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
