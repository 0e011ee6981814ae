"""Linked feature extractors: resolution by search path and bundle dirs, compiled-name
fallback to sources, and the errors that name the stage and every path tried."""

from __future__ import annotations

import shutil
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.proto import Model_pb2

from pytest_coremlcheck.reference import ModelLoadError, ReferenceModel

from .helpers import convert, load_spec, rewrite_package, tensor

COMPILED = "FeatureExtractor.mlmodelc"


def link_stage(extractor_spec, file_name: str, search_path: str):
    """A ``linkedModel`` stage with the extractor's interface."""
    stage = Model_pb2.Model()
    stage.specificationVersion = extractor_spec.specificationVersion
    stage.description.input.extend(extractor_spec.description.input)
    stage.description.output.extend(extractor_spec.description.output)
    link = stage.linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = file_name
    link.linkedModelSearchPath.defaultValue = search_path
    return stage


def linked_pipeline(built, directory: Path, search_path: str = "$BUNDLE_MAIN:.",
                    file_name: str = COMPILED) -> Path:
    """``directory/Linked.mlpackage``: the fp32 pipeline with its extractor linked."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = load_spec(built["pipeline32"])
    spec.pipeline.models[0].CopyFrom(link_stage(spec.pipeline.models[0], file_name,
                                                search_path))
    spec.pipeline.names.extend(["extractor", "head"])
    return rewrite_package(built["pipeline32"], directory / "Linked.mlpackage", spec)


def place_extractor(built, directory: Path, name: str = "FeatureExtractor.mlpackage") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / name
    shutil.copytree(built["extractor32"], dest)
    return dest


@pytest.fixture(scope="module")
def embedded(built, example):
    return ReferenceModel(built["pipeline32"]).predict({"x": example})


def test_linked_extractor_gives_the_embedded_outputs(built, example, embedded, tmp_path):
    path = linked_pipeline(built, tmp_path / "app")
    extractor = place_extractor(built, tmp_path / "app")
    model = ReferenceModel(path)
    out = model.predict({"x": example})
    np.testing.assert_array_equal(out["probs"], embedded["probs"])
    (note,) = model.notes
    assert "stage 'extractor'" in note and COMPILED in note and str(extractor) in note
    assert "cannot run off macOS" in note
    first = model.stages[0]
    assert (first.name, first.kind, first.linked_path) == ("extractor", "mlProgram",
                                                           str(extractor))
    assert list(model.stage_outputs()) == ["extractor", "head"]
    assert model.platform.startswith("reference executor, pipeline [extractor: linked "
                                     "FeatureExtractor.mlpackage: fp32; head: fp32]")


def test_bundle_main_maps_to_the_configured_directory(built, example, embedded, tmp_path):
    path = linked_pipeline(built, tmp_path / "app")
    extractor = place_extractor(built, tmp_path / "bundle")
    model = ReferenceModel(path, bundle_dirs={"main": str(tmp_path / "bundle")})
    np.testing.assert_array_equal(model.predict({"x": example})["probs"], embedded["probs"])
    assert model.stages[0].linked_path == str(extractor)
    assert "search path entry '$BUNDLE_MAIN'" in model.notes[0]


def test_earlier_search_entry_wins(built, tmp_path):
    path = linked_pipeline(built, tmp_path / "app")
    place_extractor(built, tmp_path / "app")
    in_bundle = place_extractor(built, tmp_path / "bundle")
    model = ReferenceModel(path, bundle_dirs={"main": str(tmp_path / "bundle")})
    assert model.stages[0].linked_path == str(in_bundle)


def test_bundle_identifier_with_subdirectory(built, example, embedded, tmp_path):
    path = linked_pipeline(built, tmp_path / "app",
                           search_path="$BUNDLE_IDENTIFIER(com.example.app)/Models")
    extractor = place_extractor(built, tmp_path / "frameworks" / "Models")
    model = ReferenceModel(path, bundle_dirs={"com.example.app": str(tmp_path / "frameworks")})
    np.testing.assert_array_equal(model.predict({"x": example})["probs"], embedded["probs"])
    assert model.stages[0].linked_path == str(extractor)


def test_relative_and_absolute_entries_inside_the_roots(built, tmp_path):
    app = tmp_path / "app"
    extractor = place_extractor(built, app / "linked")
    path = linked_pipeline(built, app, search_path=f"missing:{app / 'linked'}")
    assert ReferenceModel(path).stages[0].linked_path == str(extractor)
    path = linked_pipeline(built, app, search_path="./missing:linked")
    assert ReferenceModel(path).stages[0].linked_path == str(extractor)


def test_source_file_name_is_used_as_is(built, tmp_path):
    extractor = place_extractor(built, tmp_path / "app", "Extractor.mlpackage")
    path = linked_pipeline(built, tmp_path / "app", search_path="",
                           file_name="Extractor.mlpackage")
    model = ReferenceModel(path)
    assert model.stages[0].linked_path == str(extractor)
    assert "cannot run off macOS" not in model.notes[0]


def test_sibling_mlmodel_of_a_neuralnetwork_extractor(built, sources, example, tmp_path):
    extractor = convert(sources.extractor, torch.rand(1, 3, 8, 8),
                        [tensor("x", (1, 3, 8, 8))], [tensor("features")],
                        convert_to="neuralnetwork", minimum_deployment_target=ct.target.iOS14)
    spec = extractor.get_spec()
    spec.description.output[0].type.multiArrayType.shape.extend([1, 4])
    app = tmp_path / "app"
    app.mkdir()
    (app / "FeatureExtractor.mlmodel").write_bytes(spec.SerializeToString())
    model = ReferenceModel(linked_pipeline(built, app))
    assert model.stages[0].kind == "neuralNetwork"
    assert model.stages[0].linked_path == str(app / "FeatureExtractor.mlmodel")
    out = model.predict({"x": example})
    np.testing.assert_allclose(out["probs"], sources.forward(example)[1], atol=1e-5)


def test_missing_linked_file_names_the_stage_and_every_path_tried(built, tmp_path):
    path = linked_pipeline(built, tmp_path / "app")
    with pytest.raises(ModelLoadError) as info:
        ReferenceModel(path)
    message = str(info.value)
    assert "stage 'extractor'" in message and f"'{COMPILED}'" in message
    assert "$BUNDLE_MAIN (no directory configured for bundle 'main'" in message
    app = tmp_path / "app"
    for name in (COMPILED, "FeatureExtractor.mlmodel", "FeatureExtractor.mlpackage"):
        assert str(app / name) in message


def test_missing_with_bundle_configured_lists_the_bundle_paths(built, tmp_path):
    path = linked_pipeline(built, tmp_path / "app")
    with pytest.raises(ModelLoadError, match="not found") as info:
        ReferenceModel(path, bundle_dirs={"main": str(tmp_path / "bundle")})
    assert str(tmp_path / "bundle" / "FeatureExtractor.mlpackage") in str(info.value)


def test_only_a_compiled_model_is_a_clear_error(built, tmp_path):
    path = linked_pipeline(built, tmp_path / "app")
    (tmp_path / "app" / COMPILED).mkdir()
    with pytest.raises(ModelLoadError, match="Found only compiled .*cannot run off macOS"):
        ReferenceModel(path)


@pytest.mark.parametrize("search_path", ["../../elsewhere", ".:../../elsewhere"])
def test_search_path_leaving_the_roots_is_an_error(built, tmp_path, search_path):
    path = linked_pipeline(built, tmp_path / "a" / "b" / "app", search_path=search_path)
    with pytest.raises(ModelLoadError) as info:
        ReferenceModel(path)
    message = str(info.value)
    assert "stage 'extractor'" in message and "'../../elsewhere'" in message
    assert "leaves the configured roots" in message
    assert str(tmp_path / "a" / "elsewhere") in message


def test_absolute_path_outside_the_roots_is_an_error(built, tmp_path):
    place_extractor(built, tmp_path / "elsewhere")
    path = linked_pipeline(built, tmp_path / "app", search_path=str(tmp_path / "elsewhere"))
    with pytest.raises(ModelLoadError, match="leaves the configured roots"):
        ReferenceModel(path)
    model = ReferenceModel(path, bundle_dirs={"main": str(tmp_path / "elsewhere")})
    assert model.stages[0].linked_path.startswith(str(tmp_path / "elsewhere"))


def test_file_name_climbing_out_is_an_error(built, tmp_path):
    place_extractor(built, tmp_path)
    path = linked_pipeline(built, tmp_path / "app", search_path=".",
                           file_name="../FeatureExtractor.mlpackage")
    with pytest.raises(ModelLoadError, match="linked file name .* leaves the configured roots"):
        ReferenceModel(path)


def test_linked_file_without_the_declared_output(built, tmp_path):
    place_extractor(built, tmp_path / "app")
    spec = load_spec(built["pipeline32"])
    stage = link_stage(spec.pipeline.models[0], COMPILED, ".")
    extra = stage.description.output.add()
    extra.CopyFrom(stage.description.output[0])
    extra.name = "embedding"
    spec.pipeline.models[0].CopyFrom(stage)
    path = rewrite_package(built["pipeline32"], tmp_path / "app" / "Bad.mlpackage", spec)
    with pytest.raises(ModelLoadError, match=r"stage 'stage0'.*no output\(s\) embedding"):
        ReferenceModel(path)


def test_top_level_linked_model_file(built, example, tmp_path):
    extractor_spec = load_spec(built["extractor32"])
    place_extractor(built, tmp_path)
    path = tmp_path / "Link.mlmodel"
    path.write_bytes(link_stage(extractor_spec, COMPILED, ".").SerializeToString())
    out = ReferenceModel(path).predict({"x": example})
    alone = ReferenceModel(built["extractor32"]).predict({"x": example})
    np.testing.assert_array_equal(out["features"], alone["features"])


def test_spec_without_a_file_cannot_resolve_relative_entries(built):
    extractor_spec = load_spec(built["extractor32"])
    with pytest.raises(ModelLoadError, match="no file location"):
        ReferenceModel(link_stage(extractor_spec, COMPILED, "."))
