"""Warning and info rules on real conversions: FP16 hazards, names, classifiers, metadata,
performance notes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from pytest_coremlcheck.lint import lint

from ._broken import FLOAT32, add_op, find_op, main_block
from ._lint_zoo import convert_module


def _ids(result, severity=None):
    return [f.id for f in result.findings if severity is None or f.severity == severity]


class AdditiveMask(torch.nn.Module):
    def forward(self, scores, mask):
        return torch.softmax(scores + (1.0 - mask) * -1e9, -1)


class InfiniteFill(torch.nn.Module):
    def forward(self, scores, mask):
        return torch.softmax(scores.masked_fill(mask < 0.5, float("-inf")), -1)


class TinyEpsilon(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = torch.nn.LayerNorm(16, eps=1e-12)

    def forward(self, x):
        return self.norm(x)


class LongSum(torch.nn.Module):
    def forward(self, x):
        return x.sum(-1) + (x * x).sum(-1)


@pytest.fixture(scope="module")
def hazards(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hazards")
    built = {}

    def get(name):
        if name not in built:
            module, shapes = {"mask": (AdditiveMask(), [(1, 4, 8), (1, 4, 8)]),
                              "fill": (InfiniteFill(), [(1, 4, 8), (1, 4, 8)]),
                              "eps": (TinyEpsilon(), [(1, 4, 16)]),
                              "sum": (LongSum(), [(1, 8192)])}[name]
            built[name] = convert_module(module, shapes, "iOS16",
                                         directory / f"{name}.mlpackage")
        return built[name]

    return get


def test_additive_mask_sentinel(hazards):
    result = lint(hazards("mask"))
    [finding] = [f for f in result.findings if f.id == "CML-F003"]
    assert finding.severity == "warning"
    assert "-1e+09" in finding.message and "op 'add'" in finding.message
    assert "CML-F001" not in _ids(result)


def test_infinite_fill_sentinel(hazards):
    [finding] = [f for f in lint(hazards("fill")).findings if f.id == "CML-F003"]
    assert "-inf" in finding.message and "select" in finding.message


def test_clamped_epsilon(hazards):
    [finding] = [f for f in lint(hazards("eps")).findings if f.id == "CML-F002"]
    assert "layer_norm" in finding.message and "epsilon" in finding.message


def test_long_reductions(hazards):
    findings = [f for f in lint(hazards("sum")).findings if f.id == "CML-F004"]
    messages = " ".join(f.message for f in findings)
    assert "reduce_sum" in messages and "8192" in messages
    assert all(f.severity == "warning" for f in findings)


def test_overflowing_fp32_constant_cast_to_fp16(zoo_spec):
    spec = zoo_spec("iOS16-cnn")
    const = add_op(spec, "const", {}, [("big", FLOAT32, ())])
    const.attributes["val"].type.tensorType.dataType = FLOAT32
    const.attributes["val"].immediateValue.tensor.floats.values.append(1e6)
    add_op(spec, "mul", {"x": "x", "y": "big"}, [("scaled", 10, (1, 3, 16, 16))])
    [finding] = [f for f in lint(spec).findings if f.id == "CML-F001"]
    assert finding.severity == "error" and "1e+06" in finding.message
    assert finding.location == "main/big"


def test_large_constant_used_as_clip_bound_is_fine(zoo_spec):
    spec = zoo_spec("iOS16-cnn")
    const = add_op(spec, "const", {}, [("bound", 10, ())])
    const.attributes["val"].type.tensorType.dataType = 10
    const.attributes["val"].immediateValue.tensor.bytes.values = np.float16(np.inf).tobytes()
    add_op(spec, "minimum", {"x": "x", "y": "bound"}, [("clipped", 10, (1, 3, 16, 16))])
    assert "CML-F001" not in _ids(lint(spec))


def test_weight_scan_reads_blobs_and_can_be_turned_off(zoo, tmp_path):
    package = tmp_path / "Scaled.mlpackage"
    shutil.copytree(zoo("iOS16-cnn"), package)
    from pytest_coremlcheck.lint.source import read_path

    spec = read_path(package).spec
    conv = find_op(spec, "conv")
    weight = conv.inputs["weight"].arguments[0].name
    offset = next(op.attributes["val"].blobFileValue.offset
                  for op in main_block(spec).operations if op.outputs[0].name == weight)
    weights = package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    raw = bytearray(weights.read_bytes())
    data_offset = int.from_bytes(raw[offset + 16:offset + 24], "little")
    raw[data_offset:data_offset + 2] = np.float16(np.inf).tobytes()
    weights.write_bytes(bytes(raw))
    assert "CML-F001" in _ids(lint(package))
    assert "CML-F001" not in _ids(lint(package, scan_weights=False))
    assert "CML-F001" not in _ids(lint(package, config={"scan-weights": False}))


def test_feature_names(zoo_spec, tmp_path):
    spec = zoo_spec("iOS16-cnn")
    spec.description.input[0].name = "input.1"
    spec.description.output[0].name = "default"
    result = lint(spec)
    assert {"CML-I001", "CML-I002"} <= set(_ids(result, "warning"))
    spec.description.output[0].name = "var_12"
    assert "CML-I004" in _ids(lint(spec), "info")
    spec.description.output[0].name = "string_workaround"
    assert "CML-I005" in _ids(lint(spec), "info")


def test_file_name(zoo, tmp_path):
    package = tmp_path / "t-shirt detector 2.mlpackage"
    shutil.copytree(zoo("iOS16-cnn"), package)
    [finding] = [f for f in lint(package).findings if f.id == "CML-I003"]
    assert "t-shirt detector 2.mlpackage" in finding.message
    renamed = tmp_path / "TShirtDetector.mlpackage"
    package.rename(renamed)
    assert "CML-I003" not in _ids(lint(renamed))


def test_metadata_and_descriptions(zoo):
    import coremltools as ct

    model = ct.models.MLModel(str(zoo("iOS16-cnn")), skip_model_load=True)
    assert {"CML-D001", "CML-D002"} <= set(_ids(lint(model), "info"))
    spec = model.get_spec()
    metadata = spec.description.metadata
    metadata.author, metadata.license = "me", "BSD"
    metadata.shortDescription, metadata.versionString = "a CNN", "1.0"
    for feature in list(spec.description.input) + list(spec.description.output):
        feature.shortDescription = "values in [0, 1]"
    del metadata.userDefined["com.github.apple.coremltools.version"]
    result = lint(spec)
    assert "CML-D001" not in _ids(result) and "CML-D002" not in _ids(result)
    assert "CML-D003" in _ids(result, "info")


def test_classifier_notes(zoo_spec):
    assert "CML-D004" in _ids(lint(zoo_spec("iOS16-classifier")), "info")


def test_performance_notes(zoo, zoo_spec):
    assert "CML-P002" in _ids(lint(zoo("iOS15-flex_range")), "warning")
    fp32 = lint(zoo("iOS17-w8a8"))
    assert "CML-P001" in _ids(fp32, "warning")
    ranged = zoo_spec("iOS15-flex_range")
    size_range = ranged.description.input[0].type.multiArrayType.shapeRange.sizeRanges[2]
    size_range.lowerBound, size_range.upperBound = 1, 2
    assert "CML-P003" in _ids(lint(ranged), "warning")
    assert "CML-N005" in _ids(lint(zoo("iOS13-nn_cnn"), target="iOS16"), "info")
    assert "CML-P007" in _ids(lint(_with_layer_norm(zoo_spec("iOS16-flex_enum"))), "info")


def _with_layer_norm(spec):
    add_op(spec, "layer_norm", {"x": "x"}, [("normed", 10, (1, 3, 16, 16))])
    return spec


def test_fp32_io_around_fp16_program(zoo):
    assert "CML-P006" in _ids(lint(zoo("iOS16-lut4")), "info")
    assert "CML-P006" not in _ids(lint(zoo("iOS16-lut4"), target="iOS15"))


def test_linked_model_found_next_to_the_model(tmp_path):
    from ._broken import nn_spec

    spec = nn_spec(version=4)
    linked = spec.linkedModel.linkedModelFile
    linked.linkedModelFileName.defaultValue = "Encoder.mlmodelc"
    path = tmp_path / "Linked.mlmodel"
    path.write_bytes(spec.SerializeToString())
    [missing] = [f for f in lint(path).findings if f.id == "CML-M003"]
    assert missing.severity == "warning" and str(tmp_path) in missing.message
    (tmp_path / "Encoder.mlmodelc").mkdir()
    assert "CML-M003" not in _ids(lint(path))


def test_custom_layer_warns_about_the_app_class():
    from ._broken import add_layer, nn_spec

    spec = nn_spec(version=2)
    add_layer(spec, "mystery", "custom", inputs=("y",), outputs=("z",)).custom.className = "Zap"
    [warning] = [f for f in lint(spec).findings if f.id == "CML-M001"]
    assert warning.severity == "warning" and "'Zap'" in warning.message
