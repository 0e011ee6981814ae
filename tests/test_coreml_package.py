"""``coreml/``, what a Core ML file declares, read once and the same way by everyone: a package
load opens Manifest.json once, and the executor's precision is ``coreml.describe``'s answer
for the function it runs."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.proto import FeatureTypes_pb2, Model_pb2

from pytest_coremlcheck.coreml import files
from pytest_coremlcheck.coreml.describe import (
    compute_precision,
    pipeline_stages,
)
from pytest_coremlcheck.coreml.enums import MIL_FLOAT16
from pytest_coremlcheck.coreml.loading import load_model
from pytest_coremlcheck.lint import lint
from pytest_coremlcheck.reference import ReferenceModel

#: paths opened while ``opened_files`` records (an audit hook sees every ``open``)
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)


@contextmanager
def opened_files():
    """The list of paths the process opens inside the block."""
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


def _manifest_opens(paths: list[str]) -> int:
    return sum(Path(p).name == "Manifest.json" for p in paths)


def _program(precision):
    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3))], opset_version=ct.target.iOS18)
    def prog(x):
        return mb.add(x=mb.mul(x=x, y=3.0), y=1.0, name="out")

    return ct.convert(prog, minimum_deployment_target=ct.target.iOS18,
                      compute_precision=precision, skip_model_load=True)


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    """An fp32 package, an fp16 one, and one holding both as functions ``single``/``half``."""
    root = tmp_path_factory.mktemp("coreml_package")
    out = {"fp32": root / "Single.mlpackage", "fp16": root / "Half.mlpackage"}
    _program(ct.precision.FLOAT32).save(str(out["fp32"]))
    _program(ct.precision.FLOAT16).save(str(out["fp16"]))
    descriptor = ct.utils.MultiFunctionDescriptor()
    descriptor.add_function(str(out["fp32"]), "main", "single")
    descriptor.add_function(str(out["fp16"]), "main", "half")
    descriptor.default_function_name = "single"
    out["both"] = root / "Both.mlpackage"
    ct.utils.save_multifunction(descriptor, str(out["both"]))
    return out


@pytest.mark.parametrize("read", [load_model, ReferenceModel, lint],
                         ids=["load_model", "ReferenceModel", "lint"])
def test_a_package_load_opens_its_manifest_once(packages, read):
    with opened_files() as opened:
        read(packages["fp32"])
    assert _manifest_opens(opened) == 1, opened


def test_the_probe_counts_every_manifest_read(packages):
    with opened_files() as opened:
        files.read_manifest(packages["fp32"])
        files.package_spec_path(packages["fp32"])  # reads it again when not given it
    assert _manifest_opens(opened) == 2


def _ops_typed(spec, dtype: int) -> int:
    """How many op outputs of ``spec``'s functions are tensors of MIL ``dtype`` (by hand)."""
    count = 0
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                count += sum(o.type.tensorType.dataType == dtype for o in op.outputs
                             if o.type.WhichOneof("type") == "tensorType")
    return count


def test_precision_is_read_from_the_declared_types(packages):
    fp32 = load_model(packages["fp32"]).spec
    fp16 = load_model(packages["fp16"]).spec
    assert _ops_typed(fp32, MIL_FLOAT16) == 0 and _ops_typed(fp16, MIL_FLOAT16) > 0
    assert compute_precision(fp32) == "fp32"
    assert compute_precision(fp16) == "fp16"
    one_op = Model_pb2.Model()
    one_op.CopyFrom(fp32)
    [function] = one_op.mlProgram.functions.values()
    [block] = function.block_specializations.values()
    block.operations[-1].outputs[0].type.tensorType.dataType = MIL_FLOAT16
    assert compute_precision(one_op) == "fp16"


def test_the_executor_reports_the_precision_of_the_function_it_runs(packages):
    spec = load_model(packages["both"]).spec
    assert compute_precision(spec) == "fp16"
    assert compute_precision(spec, "single") == "fp32"
    assert compute_precision(spec, "half") == "fp16"
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for function, precision in (("single", "fp32"), ("half", "fp16"), (None, "fp32")):
        model = ReferenceModel(packages["both"], function_name=function)
        assert model.precision == precision, function
        np.testing.assert_allclose(model.predict({"x": x})["out"], 3 * x + 1, rtol=1e-3)
    assert ReferenceModel(packages["fp16"]).precision == "fp16"


def test_a_non_pipeline_has_no_stages(packages):
    assert pipeline_stages(load_model(packages["fp32"]).spec) == []


def test_old_executor_paths_still_import():
    from pytest_coremlcheck.coreml import features, image, loading
    from pytest_coremlcheck.reference import features as old_features
    from pytest_coremlcheck.reference import image as old_image
    from pytest_coremlcheck.reference import loading as old_loading

    assert old_features.describe is features.describe
    assert old_image.image_to_array is image.image_to_array
    assert old_loading.load_model is loading.load_model


def test_executor_and_linter_read_the_same_pipeline_stages(packages):
    from pytest_coremlcheck.lint.spec import ModelView

    fp32, fp16 = (load_model(packages[k]).spec for k in ("fp32", "fp16"))
    spec = Model_pb2.Model()
    spec.specificationVersion = fp16.specificationVersion
    for stage in (fp32, fp16):
        spec.pipelineRegressor.pipeline.models.add().CopyFrom(stage)
    stages = pipeline_stages(spec)
    assert [compute_precision(s) for s in stages] == ["fp32", "fp16"]
    assert compute_precision(spec) == "fp16"  # a pipeline is fp16 when any stage is
    assert [view.spec for view in ModelView(spec).submodels] == stages
    del spec.pipelineRegressor.pipeline.models[1]
    assert compute_precision(spec) == "fp32"


def test_executor_and_linter_name_array_types_alike():
    from pytest_coremlcheck.coreml.features import describe_one
    from pytest_coremlcheck.lint.spec import array_dtype_name

    expected = {"FLOAT32": "float32", "DOUBLE": "float64", "FLOAT16": "float16",
                "INT32": "int32", "INT8": "int8"}
    for name, number in FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.items():
        feature = Model_pb2.FeatureDescription(name="x")
        feature.type.multiArrayType.dataType = number
        feature.type.multiArrayType.shape.append(2)
        dtype = describe_one(feature).dtype
        assert array_dtype_name(number) == (name if number else "INVALID")
        assert str(dtype) == expected.get(name, "float32"), name  # unset: float32
