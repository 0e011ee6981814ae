"""Pipelines of converted torch models, run stage by stage against the composed torch forward."""

from __future__ import annotations

import warnings

import coremltools as ct
import numpy as np
import torch
from coremltools.proto import Model_pb2
from PIL import Image

from pytest_coremlcheck.coreml.describe import describe_classifier
from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.pipeline import PIPELINE_INPUT, StageInfo

from .helpers import LABELS, convert, load_spec, make_pipeline, rewrite_package, tensor


def test_make_pipeline_fp32_matches_composed_torch(built, sources, example):
    model = ReferenceModel(built["pipeline32"])
    features, probs = sources.forward(example)
    out = model.predict({"x": example})
    assert list(out) == ["probs"] and out["probs"].dtype == np.float32
    np.testing.assert_allclose(out["probs"], probs, atol=1e-6)
    assert model.precision == "fp32"
    assert model.platform == "reference executor, pipeline [stage0: fp32; stage1: fp32]"
    stage_outputs = model.stage_outputs()
    assert list(stage_outputs) == ["stage0", "stage1"]
    np.testing.assert_allclose(stage_outputs["stage0"]["features"], features, atol=1e-6)
    np.testing.assert_array_equal(stage_outputs["stage1"]["probs"], out["probs"])


def test_in_memory_pipeline_finds_stage_weights(built, sources, example):
    mlmodel = ct.models.MLModel(str(built["pipeline32"]), skip_model_load=True)
    out = ReferenceModel(mlmodel).predict({"x": example})
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=1e-6)


def test_each_stage_equals_the_stage_model_run_alone(built, example):
    pipeline = ReferenceModel(built["pipeline16"])
    pipeline.predict({"x": example})
    stages = pipeline.stage_outputs()
    alone = ReferenceModel(built["extractor16"]).predict({"x": example})
    np.testing.assert_array_equal(stages["stage0"]["features"], alone["features"])
    head = ReferenceModel(built["head16"]).predict({"features": alone["features"]})
    np.testing.assert_array_equal(stages["stage1"]["probs"], head["probs"])


def test_fp16_boundary_is_reported(built, sources, example):
    model = ReferenceModel(built["pipeline16"])
    out = model.predict({"x": example})
    assert model.precision == "fp16"
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=2e-3)
    first, second = model.stages
    assert isinstance(first, StageInfo)
    assert (first.name, first.kind, first.precision) == ("stage0", "mlProgram", "fp16")
    assert first.output_dtypes == {"features": "float16"}
    assert first.input_sources == {"x": PIPELINE_INPUT}
    assert second.input_types == {"features": "float16"}
    assert second.input_sources == {"features": "stage0"}
    assert model.stage_outputs()["stage0"]["features"].dtype == np.float16
    crossing = [b for b in model._engine.boundaries if b.feature == "features"]
    assert [b.describe() for b in crossing] == ["features: stage0 (float16) -> stage1 (float16)"]
    assert first.to_dict()["output_types"] == {"features": "float16"}
    assert model.notes == []


def test_fp16_mode_fp32_runs_every_stage_unrounded(built, sources, example):
    model = ReferenceModel(built["pipeline16"], fp16_mode="fp32")
    assert model.platform == ("reference executor, pipeline [stage0: fp16 program run in fp32; "
                              "stage1: fp16 program run in fp32]")
    out = model.predict({"x": example})
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=2e-3)


def test_pipeline_classifier_passes_label_and_probabilities_through(built, sources, example):
    model = ReferenceModel(built["pipeline_classifier"])
    assert model.spec.WhichOneof("Type") == "pipelineClassifier"
    out = model.predict({"x": example})
    probs = sources.forward(example)[1][0]
    label = model.spec.description.predictedFeatureName
    probabilities = model.spec.description.predictedProbabilitiesName
    assert out[label] == LABELS[int(np.argmax(probs))]
    assert list(out[probabilities]) == LABELS
    np.testing.assert_allclose([out[probabilities][k] for k in LABELS], probs, atol=1e-6)


def test_pipeline_regressor_runs(built, sources, example, tmp_path):
    spec = load_spec(built["pipeline32"])
    regressor = Model_pb2.Model()
    regressor.specificationVersion = spec.specificationVersion
    regressor.description.CopyFrom(spec.description)
    regressor.pipelineRegressor.pipeline.CopyFrom(spec.pipeline)
    path = rewrite_package(built["pipeline32"], tmp_path / "Regressor.mlpackage", regressor)
    out = ReferenceModel(path).predict({"x": example})
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=1e-6)


def test_nested_pipeline_lists_its_own_stages(built, sources, example, tmp_path):
    spec = load_spec(built["pipeline32"])
    inner = Model_pb2.Model()
    inner.specificationVersion = spec.specificationVersion
    inner.description.input.extend(spec.pipeline.models[0].description.input)
    inner.description.output.extend(spec.pipeline.models[0].description.output)
    inner.pipeline.models.add().CopyFrom(spec.pipeline.models[0])
    inner.pipeline.names.append("conv")
    spec.pipeline.models[0].CopyFrom(inner)
    spec.pipeline.names.extend(["extract", "classify"])
    path = rewrite_package(built["pipeline32"], tmp_path / "Nested.mlpackage", spec)
    model = ReferenceModel(path)
    out = model.predict({"x": example})
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=1e-6)
    outer = model.stages
    assert [s.name for s in outer] == ["extract", "classify"]
    assert outer[0].kind == "pipeline" and [s.name for s in outer[0].stages] == ["conv"]
    assert model.platform == ("reference executor, pipeline [extract: pipeline [conv: fp32]; "
                              "classify: fp32]")


def test_neuralnetwork_stage_feeds_ml_program_stage(built, sources, example, tmp_path):
    extractor = convert(sources.extractor, torch.rand(1, 3, 8, 8),
                        [tensor("x", (1, 3, 8, 8))], [tensor("features")],
                        convert_to="neuralnetwork", minimum_deployment_target=ct.target.iOS14)
    head = ct.models.MLModel(str(built["head32"]), skip_model_load=True)
    path = tmp_path / "Mixed.mlpackage"
    make_pipeline(extractor, head).save(str(path))
    model = ReferenceModel(path)
    assert [(s.kind, s.precision) for s in model.stages] == [
        ("neuralNetwork", "fp32"), ("mlProgram", "fp32")]
    out = model.predict({"x": example})
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=1e-5)
    half = ReferenceModel(path, nn_precision="fp16")
    assert half.precision == "fp16"
    np.testing.assert_allclose(half.predict({"x": example})["probs"], out["probs"], atol=3e-3)


class _Brighten(torch.nn.Module):
    def forward(self, image):
        return image * 0.5 + 10.3


class _ChannelMean(torch.nn.Module):
    def forward(self, image):
        return image.mean(dim=(2, 3))


def test_image_output_feeds_image_input_as_8bit_pixels(tmp_path):
    example = torch.rand(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        brighten = convert(_Brighten(), example, [ct.ImageType(name="image", shape=(1, 3, 8, 8))],
                           [ct.ImageType(name="bright")])
        mean = convert(_ChannelMean(), example, [ct.ImageType(name="bright", shape=(1, 3, 8, 8))],
                       [tensor("mean")], compute_precision=ct.precision.FLOAT32)
    path = tmp_path / "Images.mlpackage"
    make_pipeline(brighten, mean).save(str(path))
    model = ReferenceModel(path)
    pixels = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = model.predict({"image": Image.fromarray(pixels)})
    chw = pixels.astype(np.float32).transpose(2, 0, 1)[None]
    bright = np.clip(np.rint(chw * 0.5 + 10.3), 0, 255)
    np.testing.assert_allclose(out["mean"], bright.mean(axis=(2, 3)), atol=1e-4)
    image = model.stage_outputs()["stage0"]["bright"]
    assert isinstance(image, Image.Image) and image.size == (8, 8)
    np.testing.assert_array_equal(np.asarray(image).transpose(2, 0, 1)[None], bright)
    assert model.stages[0].output_types == {"bright": "image RGB"}


def test_declared_type_mismatch_is_converted_and_noted(built, sources, example, tmp_path):
    """Stage 0 emits fp16 ``features``; stage 1 is edited to declare fp32 (Core ML's validator
    would refuse this): the value is widened, and a note says so."""
    spec = load_spec(built["pipeline16"])
    head_input = spec.pipeline.models[1].description.input[0]
    head_input.type.multiArrayType.dataType = Model_pb2.ArrayFeatureType.FLOAT32
    path = rewrite_package(built["pipeline16"], tmp_path / "Mismatch.mlpackage", spec)
    model = ReferenceModel(path)
    (note,) = model.notes
    assert "stage 'stage1'" in note and "'features'" in note
    assert "declared float32 but stage0 provides float16" in note
    out = model.predict({"x": example})
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=2e-3)
    boundary = next(b for b in model._engine.boundaries if b.consumer == "stage1")
    assert boundary.mismatch == "data type float16 vs float32"


def test_hazard_watch_names_the_stage(built, example):
    model = ReferenceModel(built["pipeline16"], watch_hazards=True)
    model.predict({"x": example * 1e5})
    kinds = {hazard.kind: hazard for hazard in model.hazards}
    assert "fp16_overflow" in kinds
    assert kinds["fp16_overflow"].location.startswith("stage 'stage0'")


def test_pipeline_classifier_labels_come_from_its_classifier_stage(built):
    spec = load_spec(built["pipeline_classifier"])
    classifier = describe_classifier(spec)
    assert classifier.labels == LABELS
    assert classifier.label == spec.description.predictedFeatureName
