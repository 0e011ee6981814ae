"""Linked-model cycles, and files of a package that lead outside it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.proto import Model_pb2

from pytest_coremlcheck.cli import main
from pytest_coremlcheck.reference import ModelLoadError, ReferenceModel

SPEC = Path("Data/com.apple.CoreML/model.mlmodel")
WEIGHTS = Path("Data/com.apple.CoreML/weights")


def _feature(message, name: str) -> None:
    message.name = name
    array = message.type.multiArrayType
    array.shape.extend([1, 4])
    array.dataType = Model_pb2.ArrayFeatureType.FLOAT32


def linked_spec(file_name: str) -> Model_pb2.Model:
    """A ``linkedModel`` of x (1, 4) → y (1, 4) naming ``file_name`` in its own directory."""
    spec = Model_pb2.Model()
    spec.specificationVersion = 5
    _feature(spec.description.input.add(), "x")
    _feature(spec.description.output.add(), "y")
    link = spec.linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = file_name
    link.linkedModelSearchPath.defaultValue = "."
    return spec


def save(spec, path: Path) -> Path:
    path.write_bytes(spec.SerializeToString())
    return path


def test_a_model_that_links_itself(tmp_path):
    path = save(linked_spec("Self.mlmodel"), tmp_path / "Self.mlmodel")
    with pytest.raises(ModelLoadError, match="cycle: Self.mlmodel → Self.mlmodel"):
        ReferenceModel(path)


def test_two_models_that_link_each_other(tmp_path, capsys):
    save(linked_spec("B.mlmodel"), tmp_path / "A.mlmodel")
    save(linked_spec("A.mlmodel"), tmp_path / "B.mlmodel")
    with pytest.raises(ModelLoadError, match="cycle: A.mlmodel → B.mlmodel → A.mlmodel"):
        ReferenceModel(tmp_path / "A.mlmodel")
    assert main(["predict", str(tmp_path / "B.mlmodel"), "--backend", "reference"]) == 2
    assert "cycle: B.mlmodel → A.mlmodel → B.mlmodel" in capsys.readouterr().err


def test_a_pipeline_stage_that_links_its_own_pipeline(tmp_path):
    spec = Model_pb2.Model()
    spec.specificationVersion = 5
    _feature(spec.description.input.add(), "x")
    _feature(spec.description.output.add(), "y")
    spec.pipeline.models.add().CopyFrom(linked_spec("Pipe.mlmodel"))
    save(spec, tmp_path / "Pipe.mlmodel")
    with pytest.raises(ModelLoadError, match=r"\[stage 'stage0'\]: linked models form a cycle: "
                                             "Pipe.mlmodel → Pipe.mlmodel"):
        ReferenceModel(tmp_path / "Pipe.mlmodel")


@pytest.fixture(scope="module")
def small_package(tmp_path_factory) -> Path:
    """A real FP32 package of Linear(4, 4): x (1, 4) → y (1, 4), weights in weight.bin."""
    root = tmp_path_factory.mktemp("confined")
    torch.manual_seed(0)
    traced = torch.jit.trace(torch.nn.Linear(4, 4).eval(), torch.rand(1, 4))
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 4))],
                         outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                         compute_precision=ct.precision.FLOAT32, skip_model_load=True)
    mlmodel.save(str(root / "Lin.mlpackage"))
    return root / "Lin.mlpackage"


@pytest.fixture
def layout(small_package, tmp_path) -> tuple[Path, Path]:
    """(tmp/app/Lin.mlpackage, tmp/outside/): a package and a directory beside it."""
    (tmp_path / "app").mkdir()
    (tmp_path / "outside").mkdir()
    package = tmp_path / "app" / "Lin.mlpackage"
    shutil.copytree(small_package, package)
    return package, tmp_path / "outside"


def _move_out(package: Path, relative: Path, outside: Path) -> Path:
    """Move a file of the package outside and leave a symbolic link to it in its place."""
    target = outside / relative.name
    shutil.move(package / relative, target)
    os.symlink(target, package / relative)
    return target


def test_intact_package_runs(layout):
    x = np.ones((1, 4), np.float32)
    assert ReferenceModel(layout[0]).predict({"x": x})["y"].shape == (1, 4)


def test_symlinked_weight_file_outside_the_package(layout):
    package, outside = layout
    _move_out(package, WEIGHTS / "weight.bin", outside)
    with pytest.raises(ModelLoadError, match=r"weights/weight.bin is a symbolic link to .*"
                                             "outside/weight.bin, outside the package"):
        ReferenceModel(package)
    with pytest.raises(ModelLoadError, match="outside the package"):
        ReferenceModel(ct.models.MLModel(str(package), skip_model_load=True))


def test_symlinked_weights_directory_outside_the_package(layout):
    package, outside = layout
    _move_out(package, WEIGHTS, outside)
    with pytest.raises(ModelLoadError, match="com.apple.CoreML/weights is a symbolic link"):
        ReferenceModel(package)


def test_symlinked_spec_outside_the_package(layout):
    package, outside = layout
    _move_out(package, SPEC, outside)
    with pytest.raises(ModelLoadError, match="model.mlmodel is a symbolic link"):
        ReferenceModel(package)


def test_symlink_inside_the_package_is_fine(layout):
    package, _ = layout
    weights = package / WEIGHTS
    shutil.move(weights / "weight.bin", weights / "real.bin")
    os.symlink("real.bin", weights / "weight.bin")
    x = np.ones((1, 4), np.float32)
    assert ReferenceModel(package).predict({"x": x})["y"].shape == (1, 4)


def test_manifest_path_leaving_the_package(layout):
    package, outside = layout
    shutil.copy(package / SPEC, outside / "model.mlmodel")
    manifest_path = package / "Manifest.json"
    manifest = json.loads(manifest_path.read_text())
    root = manifest["rootModelIdentifier"]
    manifest["itemInfoEntries"][root]["path"] = "../../outside/model.mlmodel"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=rf"Manifest.json entry '{root}' has path "
                                             r"'../../outside/model.mlmodel', which resolves"):
        ReferenceModel(package)


def test_linked_package_reading_outside_its_roots(layout):
    package, outside = layout
    link = save(linked_spec("Lin.mlpackage"), package.parent / "Link.mlmodel")
    x = np.ones((1, 4), np.float32)
    assert ReferenceModel(link).predict({"x": x})["y"].shape == (1, 4)
    _move_out(package, WEIGHTS / "weight.bin", outside)
    with pytest.raises(ModelLoadError, match="weight.bin is a symbolic link"):
        ReferenceModel(link)
