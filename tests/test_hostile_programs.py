"""ML programs at the edges: zero-size tensors (valid) and descriptions that disagree with the
program (refused at load, as Core ML does)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.proto import Model_pb2

from pytest_coremlcheck import EquivalenceError, assert_equivalent
from pytest_coremlcheck.reference import ModelLoadError, ReferenceModel

SPEC = Path("Data/com.apple.CoreML/model.mlmodel")


class Empty(torch.nn.Module):
    """(2, 4) → x[:, 4:] * 2, an empty (2, 0) tensor."""

    def forward(self, x):
        return x[:, 4:] * 2


class LastColumn(torch.nn.Module):
    def forward(self, x):
        return x[:, 3:] * 2


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("programs")

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 4))])
    def empty_matmul(x):
        empty = mb.matmul(x=x, y=np.ones((4, 0), np.float32), name="empty")
        return mb.identity(x=empty, name="y"), mb.add(x=x, y=1.0, name="z")

    out = {"program": root / "EmptyMatmul.mlpackage", "torch": root / "Empty.mlpackage"}
    ct.convert(empty_matmul, convert_to="mlprogram", skip_model_load=True,
               compute_precision=ct.precision.FLOAT32).save(str(out["program"]))
    traced = torch.jit.trace(Empty(), torch.rand(2, 4))
    ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(2, 4))],
               outputs=[ct.TensorType(name="y")], convert_to="mlprogram", skip_model_load=True,
               compute_precision=ct.precision.FLOAT16).save(str(out["torch"]))
    return out


def test_zero_size_values_of_a_built_program_load_and_run(built):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    out = ReferenceModel(built["program"]).predict({"x": x})
    assert out["y"].shape == (2, 0) and out["y"].dtype == np.float32
    np.testing.assert_array_equal(out["z"], x + 1)


def test_zero_size_output_of_a_torch_conversion_checks_and_reports_shape(built):
    x = np.ones((2, 4), np.float32)
    assert ReferenceModel(built["torch"]).predict({"x": x})["y"].shape == (2, 0)
    with pytest.raises(EquivalenceError, match="y: nothing was compared") as empty:
        assert_equivalent(Empty(), built["torch"], backend="reference")  # runs, never passes
    assert empty.value.result.output_results["y"].metrics.shape == (2, 0)
    with pytest.raises(EquivalenceError, match=r"y: converted shape \(2, 0\) vs source shape "
                                               r"\(2, 1\)"):
        assert_equivalent(LastColumn(), built["torch"], backend="reference")


def _edited(package: Path, dest: Path, edit) -> Path:
    """A copy of ``package`` whose spec ``edit(spec)`` changed."""
    shutil.copytree(package, dest)
    spec = Model_pb2.Model()
    spec.ParseFromString((dest / SPEC).read_bytes())
    edit(spec)
    (dest / SPEC).write_bytes(spec.SerializeToString())
    return dest


def _int32(spec):
    spec.description.input[0].type.multiArrayType.dataType = Model_pb2.ArrayFeatureType.INT32


def _wider(spec):
    spec.description.input[0].type.multiArrayType.shape[1] = 5


def _twice(spec):
    spec.description.input.add().CopyFrom(spec.description.input[0])


def _renamed(spec):
    spec.description.input[0].name = "w"


def _extra(spec):
    extra = spec.description.input.add()
    extra.CopyFrom(spec.description.input[0])
    extra.name = "extra"


@pytest.mark.parametrize("edit, message", [
    (_int32, "input 'x' is int32[2, 4] in the model description but float32[2, 4] in the "
             "program; the dtypes must match"),
    (_wider, "input 'x' is float32[2, 5] in the model description but float32[2, 4] in the "
             "program; the shapes must match"),
    (_twice, "the model description declares input 'x' twice"),
    (_renamed, "the program takes input 'x', which the model description does not declare"),
    (_extra, "declares input 'extra', which the program does not take (program inputs: x)"),
])
def test_description_that_disagrees_with_the_program_is_refused(built, tmp_path, edit,
                                                                message):
    package = _edited(built["program"], tmp_path / "Edited.mlpackage", edit)
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        ReferenceModel(package)
