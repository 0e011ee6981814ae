"""Files that ship in working apps lint without false errors: regressors in pipelines, pipelines
older than their stages, flexible image sizes in spec-1 files, custom layers, control flow.
Each starts from a real conversion, rebuilt the way Create ML or other tools write it."""

from __future__ import annotations

import pytest

from pytest_coremlcheck.cli import main
from pytest_coremlcheck.lint import lint


def _errors(result):
    return [(f.id, f.message) for f in result.findings
            if f.severity in ("error", "fatal") or f.id == "CML-V999"]


def _pipeline_regressor(stage, version: int):
    """A pipelineRegressor around ``stage`` (as Create ML writes them: the pipeline names its
    predicted value in predictedFeatureName, and declares ``version``)."""
    from coremltools.proto import Model_pb2

    model = Model_pb2.Model()
    model.specificationVersion = version
    model.pipelineRegressor.pipeline.models.add().CopyFrom(stage)
    model.description.input.extend(stage.description.input)
    model.description.output.extend(stage.description.output)
    model.description.predictedFeatureName = stage.description.output[0].name
    return model


def _regressor(nn_spec):
    """The NN conversion as a neuralNetworkRegressor naming its output as predicted value."""
    from coremltools.proto import Model_pb2

    model = Model_pb2.Model()
    model.specificationVersion = nn_spec.specificationVersion
    model.description.CopyFrom(nn_spec.description)
    network = nn_spec.neuralNetwork
    model.neuralNetworkRegressor.layers.extend(network.layers)
    model.neuralNetworkRegressor.arrayInputShapeMapping = network.arrayInputShapeMapping
    model.description.predictedFeatureName = nn_spec.description.output[0].name
    return model


def test_regressor_predicted_feature_is_no_classifier_output(zoo_spec):
    stage = _regressor(zoo_spec("iOS13-nn_cnn"))
    pipeline = _pipeline_regressor(stage, stage.specificationVersion)
    assert _errors(lint(stage)) == []
    assert _errors(lint(pipeline)) == []


def test_classifier_with_a_multiarray_label_still_fails(zoo_spec):
    model = zoo_spec("iOS16-classifier")
    label = model.description.predictedFeatureName
    feature = next(f for f in model.description.output if f.name == label)
    feature.type.multiArrayType.dataType = 65568
    assert [f.id for f in lint(model).findings if f.severity == "error"] == ["CML-C002"]


def test_pipeline_older_than_its_stage_loads_and_needs_the_stage_os(zoo_spec):
    stage = _regressor(zoo_spec("iOS13-nn_cnn"))
    pipeline = _pipeline_regressor(stage, version=1)
    result = lint(pipeline)
    assert _errors(result) == []
    assert [f.severity for f in result.findings if f.id == "CML-V009"] == ["info"]
    assert result.required_spec == stage.specificationVersion == 4
    below = lint(pipeline, target="iOS12")
    assert ("CML-V001", "error") in {(f.id, f.severity) for f in below.findings}


def _flexible_image_model(version: int):
    """A spec-``version`` NeuralNetwork with a 16x16 RGB image input whose size may range over
    8…64 (built as coremltools' NeuralNetworkBuilder writes iOS11 models)."""
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    builder = NeuralNetworkBuilder([("image", datatypes.Array(3, 16, 16))],
                                   [("y", datatypes.Array(3, 16, 16))])
    builder.add_activation("relu", "RELU", "image", "y")
    builder.set_pre_processing_parameters(image_input_names=["image"])
    spec = builder.spec
    ranges = spec.description.input[0].type.imageType.imageSizeRange
    ranges.widthRange.lowerBound, ranges.widthRange.upperBound = 8, 64
    ranges.heightRange.lowerBound, ranges.heightRange.upperBound = 8, 64
    spec.specificationVersion = version
    return spec


def test_flexible_image_in_a_spec_1_file_is_no_version_error():
    model = _flexible_image_model(version=1)
    result = lint(model)
    assert _errors(result) == []
    assert result.required_spec == 3  # the flexibility itself works from iOS12 only
    assert "CML-T012" in {f.id for f in lint(model, target="iOS11").findings}


def test_fp16_io_in_a_spec_1_file_is_still_a_version_error():
    model = _flexible_image_model(version=1)
    model.description.output[0].type.multiArrayType.dataType = 65552  # FLOAT16 needs spec 7
    assert "CML-V004" in {f.id for f in lint(model).findings}


def _custom_layer_model():
    """A NeuralNetwork whose middle layer is a custom layer with a parameters map and weights
    (built as coremltools' NeuralNetworkBuilder writes them)."""
    import numpy as np
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder
    from coremltools.proto import NeuralNetwork_pb2

    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", datatypes.Array(2))])
    params = NeuralNetwork_pb2.CustomLayerParams()
    params.className = "Swish"
    params.parameters["beta"].doubleValue = 1.0
    params.parameters["mode"].stringValue = "fast"
    params.weights.add().floatValue.extend([0.5, 0.25, 0.125])
    builder.add_custom("swish", ["x"], ["h"], custom_proto_spec=params)
    builder.add_inner_product("fc", np.ones((2, 3), np.float32), None, 3, 2, False, "h", "y")
    return builder.spec


def test_custom_layer_parameters_do_not_crash_the_weight_rules():
    result = lint(_custom_layer_model())
    assert _errors(result) == []
    assert [f.severity for f in result.findings if f.id == "CML-M001"] == ["warning"]


def test_control_flow_blocks_are_no_missing_inputs(zoo):
    for case_id in ("iOS16-control_flow", "iOS17-gru"):
        result = lint(zoo(case_id), target=case_id.split("-")[0])
        assert _errors(result) == [], case_id


def test_control_flow_op_missing_a_real_input_still_fails(zoo_spec):
    from ._broken import find_op

    model = zoo_spec("iOS17-gru")
    del find_op(model, "while_loop").inputs["loop_vars"]
    messages = [f.message for f in lint(model).findings if f.id == "CML-O002"]
    assert any("lacks required input 'loop_vars'" in m for m in messages), messages


@pytest.mark.parametrize("argv", [["--target", "iOS99"], ["--target", "macOS99"]])
def test_cli_unknown_target_is_a_usage_error(zoo, capsys, argv):
    code = main(["lint", str(zoo("iOS16-cnn")), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown deployment target" in err and "valid" in err


def test_cli_path_without_models_fails_with_one_line(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("no models here")
    code = main(["lint", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"coremlcheck lint: error: no .mlmodel or .mlpackage "
                                        f"under {tmp_path}; nothing to lint"]
