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
