"""Pipelines that are wrong on purpose: every error names the pipeline file, the stage and the
feature, and says what was expected."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.proto import Model_pb2

from pytest_coremlcheck.reference import ModelLoadError, ReferenceModel
from pytest_coremlcheck.reference.engines import engine_for
from pytest_coremlcheck.reference.pipeline import PipelineEngine

from .helpers import load_spec, rewrite_package


def _edited(built, tmp_path, edit, name="Edited.mlpackage"):
    spec = load_spec(built["pipeline32"])
    edit(spec)
    return rewrite_package(built["pipeline32"], tmp_path / name, spec)


def test_stage_input_produced_by_nothing(built, tmp_path):
    def rename(spec):
        spec.pipeline.models[1].description.input[0].name = "embedding"

    path = _edited(built, tmp_path, rename)
    with pytest.raises(ModelLoadError) as info:
        ReferenceModel(path)
    message = str(info.value)
    assert message.startswith(f"{path} [stage 'stage1']: input 'embedding'")
    assert "neither a pipeline input nor an output of an earlier stage" in message
    assert "(available: features, x)" in message


def test_stage_input_produced_only_later(built, tmp_path):
    def swap(spec):
        first, second = Model_pb2.Model(), Model_pb2.Model()
        first.CopyFrom(spec.pipeline.models[0])
        second.CopyFrom(spec.pipeline.models[1])
        spec.pipeline.models[0].CopyFrom(second)
        spec.pipeline.models[1].CopyFrom(first)
        spec.pipeline.names.extend(["head", "extractor"])

    with pytest.raises(ModelLoadError, match=r"\[stage 'head'\]: input 'features' .* produced "
                                             r"only by the later stage\(s\) extractor"):
        ReferenceModel(_edited(built, tmp_path, swap))


def test_pipeline_output_produced_by_nothing(built, tmp_path):
    def rename(spec):
        spec.description.output[0].name = "scores"

    with pytest.raises(ModelLoadError, match="pipeline output 'scores' is not produced by any "
                                             r"stage nor a pipeline input \(available: "
                                             "features, probs, x\\)"):
        ReferenceModel(_edited(built, tmp_path, rename))


def test_stage_input_of_another_kind(built, tmp_path):
    def to_double(spec):
        spec.pipeline.models[1].description.input[0].type.Clear()
        spec.pipeline.models[1].description.input[0].type.doubleType.SetInParent()

    with pytest.raises(ModelLoadError, match=r"\[stage 'stage1'\]: input 'features': declared "
                                             "double, but stage0 provides float32"):
        ReferenceModel(_edited(built, tmp_path, to_double))


@pytest.mark.parametrize(("names", "expected"), [
    (["only"], "names 1 stage\\(s\\) \\(only\\) but contains 2 model\\(s\\)"),
    (["same", "same"], "stage name 'same' is used twice"),
])
def test_stage_names_must_match_the_models(built, tmp_path, names, expected):
    with pytest.raises(ModelLoadError, match=expected):
        ReferenceModel(_edited(built, tmp_path, lambda spec: spec.pipeline.names.extend(names)))


def test_empty_pipeline(built):
    spec = load_spec(built["pipeline32"])
    spec.pipeline.ClearField("models")
    with pytest.raises(ModelLoadError, match="the pipeline contains no models"):
        ReferenceModel(spec)


def test_stateful_stage_is_refused(built):
    spec = load_spec(built["pipeline32"])
    state = spec.pipeline.models[1].description.state.add()
    state.name = "cache"
    state.type.stateType.arrayType.shape.append(1)
    with pytest.raises(ModelLoadError, match=r"\[stage 'stage1'\]: the stage declares state\(s\) "
                                             "cache"):
        ReferenceModel(spec)


def test_stage_failing_to_load_is_named(built, tmp_path):
    def drop_program(spec):
        spec.pipeline.models[1].ClearField("mlProgram")

    with pytest.raises(ModelLoadError, match=r"\[stage 'stage1'\]: the stage has no model type"):
        ReferenceModel(_edited(built, tmp_path, drop_program))


def test_not_a_pipeline(built):
    from pytest_coremlcheck.coreml.loading import load_model

    with pytest.raises(ModelLoadError, match="not a pipeline"):
        PipelineEngine(load_model(built["extractor32"]), engine_for)


def test_missing_pipeline_input_is_an_input_error(built):
    model = ReferenceModel(built["pipeline32"])
    with pytest.raises(ValueError, match="missing input 'x'"):
        model.predict({})
    with pytest.raises(ValueError, match="shape"):
        model.predict({"x": np.zeros((1, 3, 4, 4), np.float32)})


def test_bare_spec_of_a_pipeline_with_weight_files_says_what_to_pass(built):
    with pytest.raises(ModelLoadError, match=r"\[stage 'stage0'\]: .*a bare spec carries none: "
                                             r"pass the MLModel or the \.mlpackage path"):
        ReferenceModel(load_spec(built["pipeline32"]))
