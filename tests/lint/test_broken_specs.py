"""Hand-made broken specs: every error rule is caught by at least one.

Each ``@breaks(rule_id)`` function returns ``(model, target)`` — a spec, path or MLModel and
the deployment target to lint against (None for none). The test asserts the rule reports an
error-or-worse finding and that no rule crashed.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pytest_coremlcheck.lint import lint
from pytest_coremlcheck.lint.registry import all_rules

from ._broken import (
    ARRAY_FLOAT16,
    ARRAY_FLOAT32,
    ARRAY_INT8,
    FLOAT16,
    FLOAT32,
    INT8,
    INT32,
    UINT4,
    add_layer,
    add_op,
    find_op,
    main_block,
    nn_spec,
    tensor_type,
)

BROKEN: dict[str, list] = {}


def breaks(rule_id: str, severity: str = "error"):
    def register(function):
        BROKEN.setdefault(rule_id, []).append((function, severity))
        return function

    return register


def pytest_generate_tests(metafunc):
    """Parametrize over BROKEN once the whole module (every @breaks) has been imported."""
    if "broken" in metafunc.fixturenames:
        cases = [pytest.param((rule_id, function, severity),
                              id=f"{rule_id}-{function.__name__}")
                 for rule_id, builders in sorted(BROKEN.items())
                 for function, severity in builders]
        metafunc.parametrize("broken", cases)


class _Configured:
    """A model path linted with a LintConfig."""

    def __init__(self, path, config):
        self.path, self.config = path, config


def test_broken_spec_is_reported(broken, zoo, zoo_spec, tmp_path):
    rule_id, build, severity = broken
    model, target = build(zoo=zoo, spec=zoo_spec, tmp=tmp_path)
    if isinstance(model, _Configured):
        result = lint(model.path, target=target, config=model.config)
    else:
        result = lint(model, target=target)
    hits = [f for f in result.findings if f.id == rule_id]
    assert hits, f"{rule_id} not reported; got {[(f.id, f.message) for f in result.findings]}"
    assert any(f.severity == severity for f in hits), hits
    assert not [f for f in result.findings if f.id == "CML-V999"]
    for finding in hits:
        assert finding.message and finding.fix


def test_every_error_rule_has_a_broken_spec():
    error_rules = {r.id for r in all_rules().values() if r.severity == "error"}
    derived = {"CML-V000"}  # unreadable files: tested through the command line and plugin
    assert error_rules - derived - set(BROKEN) == set()


# -- V: version and format ------------------------------------------------------------------


@breaks("CML-V001")
def program_newer_than_target(zoo, spec, tmp):
    return zoo("iOS16-cnn"), "iOS15"


@breaks("CML-V002")
def version_zero(zoo, spec, tmp):
    model = nn_spec()
    model.specificationVersion = 0
    return model, None


@breaks("CML-V003")
def version_eleven(zoo, spec, tmp):
    model = nn_spec()
    model.specificationVersion = 11
    return model, None


@breaks("CML-V004")
def program_declares_too_little(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.specificationVersion = 6
    return model, None


@breaks("CML-V006")
def program_for_ios14(zoo, spec, tmp):
    return spec("iOS15-cnn"), "iOS14"


@breaks("CML-V007")
def unknown_opset(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    function = model.mlProgram.functions["main"]
    block = function.block_specializations["CoreML6"]
    function.block_specializations["CoreML42"].CopyFrom(block)
    function.opset = "CoreML42"
    return model, None


@breaks("CML-V007")
def opset_newer_than_target(zoo, spec, tmp):
    return spec("iOS17-int8"), "iOS16"


@breaks("CML-V008")
def opset_without_block(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.mlProgram.functions["main"].opset = "CoreML5"
    return model, None


def _pipeline(*models, version=None):
    from coremltools.proto import Model_pb2

    pipeline = Model_pb2.Model()
    pipeline.specificationVersion = version or max(m.specificationVersion for m in models)
    for model in models:
        pipeline.pipeline.models.add().CopyFrom(model)
    pipeline.description.input.extend(models[0].description.input)
    pipeline.description.output.extend(models[-1].description.output)
    return pipeline


@breaks("CML-V009", "info")
def pipeline_older_than_submodel(zoo, spec, tmp):
    inner = nn_spec(rank5=False, version=4)
    return _pipeline(inner, version=3), None


@breaks("CML-V010")
def program_in_bare_mlmodel(zoo, spec, tmp):
    path = tmp / "Program.mlmodel"
    path.write_bytes(spec("iOS16-cnn").SerializeToString())
    return path, None


@breaks("CML-V010")
def package_without_weights(zoo, spec, tmp):
    package = tmp / "NoWeights.mlpackage"
    shutil.copytree(zoo("iOS16-cnn"), package)
    shutil.rmtree(package / "Data" / "com.apple.CoreML" / "weights")
    return package, None


@breaks("CML-V010")
def truncated_weights(zoo, spec, tmp):
    package = tmp / "Truncated.mlpackage"
    shutil.copytree(zoo("iOS16-cnn"), package)
    weights = package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    weights.write_bytes(weights.read_bytes()[:100])
    return package, None


# -- T: interface ---------------------------------------------------------------------------


@breaks("CML-T001")
def nn_fp16_output(zoo, spec, tmp):
    model = nn_spec(rank5=False, version=4)
    model.description.output[0].type.multiArrayType.dataType = ARRAY_FLOAT16
    return model, "iOS15"


@breaks("CML-T002")
def grayscale_fp16_input(zoo, spec, tmp):
    model = spec("iOS16-image")
    image = model.description.input[0].type.imageType
    image.colorSpace = 40
    return model, "iOS15"


@breaks("CML-T003")
def int8_input(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.description.input[0].type.multiArrayType.dataType = ARRAY_INT8
    return model, "iOS18"


@breaks("CML-T004")
def grayscale_uint8_program_input(zoo, spec, tmp):
    model = spec("iOS16-image")
    model.description.input[0].type.imageType.colorSpace = 10
    value = model.mlProgram.functions["main"].inputs[0]
    value.type.Clear()
    tensor_type(value.type, 31, (1, 1, 16, 16))
    return model, "iOS16"


@breaks("CML-T005")
def array_without_dtype(zoo, spec, tmp):
    model = nn_spec()
    model.description.input[0].type.multiArrayType.dataType = 0
    return model, None


def _add_state(model, name="cache", dtype=ARRAY_FLOAT16, shape=(1, 4)):
    state = model.description.state.add()
    state.name = name
    state.type.stateType.arrayType.dataType = dtype
    state.type.stateType.arrayType.shape.extend(shape)
    return state


@breaks("CML-T006")
def state_in_ios16_program(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    _add_state(model)
    return model, "iOS17"


@breaks("CML-T006")
def state_in_neural_network(zoo, spec, tmp):
    model = nn_spec(rank5=False, version=9)
    _add_state(model)
    return model, None


@breaks("CML-T007")
def optional_fp32_state(zoo, spec, tmp):
    model = spec("iOS18-stateful")
    state = model.description.state[0]
    state.type.isOptional = True
    state.type.stateType.arrayType.dataType = ARRAY_FLOAT32
    return model, None


@breaks("CML-T008")
def functions_in_ios16_program(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    function = model.description.functions.add()
    function.name = "main"
    function.input.extend(model.description.input)
    function.output.extend(model.description.output)
    del model.description.input[:]
    del model.description.output[:]
    model.description.defaultFunctionName = "main"
    return model, "iOS17"


@breaks("CML-T009")
def default_function_missing(zoo, spec, tmp):
    model = spec("iOS18-multifunction")
    model.description.defaultFunctionName = "medium"
    return model, None


@breaks("CML-T009")
def top_level_inputs_alongside_functions(zoo, spec, tmp):
    model = spec("iOS18-multifunction")
    model.description.input.add().CopyFrom(model.description.functions[0].input[0])
    return model, None


@breaks("CML-T010")
def program_without_inputs(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    del model.description.input[:]
    return model, "iOS17"


@breaks("CML-T011")
def no_outputs(zoo, spec, tmp):
    model = nn_spec()
    del model.description.output[:]
    return model, None


def _enumerate(feature, shapes, default=None):
    array = feature.type.multiArrayType
    for shape in shapes:
        array.enumeratedShapes.shapes.add().shape.extend(shape)
    if default is not None:
        del array.shape[:]
        array.shape.extend(default)


@breaks("CML-T012")
def flexible_shape_for_ios11(zoo, spec, tmp):
    model = nn_spec()
    _enumerate(model.description.input[0], [(3,), (5,)])
    return model, "iOS11"


def _second_input(model, name="y_in"):
    second = model.description.input.add()
    second.CopyFrom(model.description.input[0])
    second.name = name
    return second


@breaks("CML-T013")
def two_enumerated_program_inputs(zoo, spec, tmp):
    model = spec("iOS16-flex_enum")
    _second_input(model)
    return model, "iOS17"


@breaks("CML-T014")
def enumerated_counts_differ(zoo, spec, tmp):
    model = spec("iOS16-flex_enum")
    second = _second_input(model)
    second.type.multiArrayType.enumeratedShapes.shapes.add().shape.extend((1, 3, 8, 8))
    return model, None


@breaks("CML-T015")
def default_shape_not_enumerated(zoo, spec, tmp):
    model = nn_spec(version=3)
    _enumerate(model.description.input[0], [(4,), (5,)])
    return model, None


@breaks("CML-T015")
def inverted_range(zoo, spec, tmp):
    model = nn_spec(version=3)
    size_range = model.description.input[0].type.multiArrayType.shapeRange.sizeRanges.add()
    size_range.lowerBound, size_range.upperBound = 8, 2
    return model, None


@breaks("CML-T016")
def unbounded_program_input(zoo, spec, tmp):
    model = spec("iOS15-flex_range")
    model.description.input[0].type.multiArrayType.shapeRange.sizeRanges[3].upperBound = -1
    return model, None


@breaks("CML-T018")
def nd_mapping_for_ios12(zoo, spec, tmp):
    return nn_spec(rank5=False, version=4), "iOS12"


@breaks("CML-T019")
def rank5_with_rank4_input(zoo, spec, tmp):
    model = nn_spec()
    model.description.input[0].type.multiArrayType.shape.extend([1, 1, 1])
    return model, None


@breaks("CML-T020")
def default_value_for_ios13(zoo, spec, tmp):
    model = nn_spec(rank5=False, version=5)
    feature = _second_input(model, "bias_in")
    feature.type.isOptional = True
    feature.type.multiArrayType.doubleDefaultValue = 1.0
    return model, "iOS13"


@breaks("CML-T021")
def int_default_on_float_array(zoo, spec, tmp):
    model = nn_spec(rank5=False, version=5)
    feature = _second_input(model, "bias_in")
    feature.type.isOptional = True
    feature.type.multiArrayType.intDefaultValue = 1
    return model, None


@breaks("CML-T022")
def every_input_optional(zoo, spec, tmp):
    model = nn_spec()
    model.description.input[0].type.isOptional = True
    return model, None


@breaks("CML-T022")
def optional_output(zoo, spec, tmp):
    model = nn_spec()
    model.description.output[0].type.isOptional = True
    return model, None


@breaks("CML-T023")
def sequence_for_ios11(zoo, spec, tmp):
    model = nn_spec()
    output = model.description.output.add()
    output.name = "tokens"
    output.type.sequenceType.stringType.SetInParent()
    return model, "iOS11"


@breaks("CML-T024")
def image_size_zero(zoo, spec, tmp):
    model = spec("iOS16-image")
    model.description.input[0].type.imageType.width = 0
    return model, None


@breaks("CML-T024")
def grayscale_image_with_three_channels(zoo, spec, tmp):
    model = spec("iOS16-image")
    model.description.input[0].type.imageType.colorSpace = 10
    return model, None


# -- M: model types -------------------------------------------------------------------------


@breaks("CML-M001")
def custom_layer_for_ios11(zoo, spec, tmp):
    model = nn_spec()
    layer = add_layer(model, "mystery", "custom", inputs=("y",), outputs=("z",))
    layer.custom.className = "MysteryLayer"
    return model, "iOS11"


@breaks("CML-M002")
def custom_model_for_ios11(zoo, spec, tmp):
    model = nn_spec(version=3)
    model.customModel.className = "MyModel"
    return model, "iOS11"


def _linked(name="Encoder.mlmodelc", version=4):
    model = nn_spec(version=version)
    linked = model.linkedModel.linkedModelFile
    linked.linkedModelFileName.defaultValue = name
    linked.linkedModelSearchPath.defaultValue = "$BUNDLE_MAIN"
    return model


@breaks("CML-M003")
def linked_model_for_ios12(zoo, spec, tmp):
    return _linked(), "iOS12"


@breaks("CML-M003")
def linked_file_missing_from_bundle(zoo, spec, tmp):
    path = tmp / "Linked.mlmodel"
    path.write_bytes(_linked().SerializeToString())
    bundle = tmp / "bundle"
    bundle.mkdir()
    from pytest_coremlcheck.lint import LintConfig

    # the bundle directory is configured, so a missing file is an error
    return _Configured(path, LintConfig(bundle_dirs=(bundle,))), None


@breaks("CML-M004")
def updatable_for_ios12(zoo, spec, tmp):
    model = nn_spec(version=4)
    model.isUpdatable = True
    return model, "iOS12"


@breaks("CML-M005")
def updatable_program(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.isUpdatable = True
    return model, None


@breaks("CML-M006")
def updatable_without_updatable_layers(zoo, spec, tmp):
    model = nn_spec(version=4)
    model.isUpdatable = True
    return model, None


@breaks("CML-M007")
def feature_print_objects_for_ios13(zoo, spec, tmp):
    model = nn_spec(version=5)
    model.visionFeaturePrint.objects.SetInParent()
    return model, "iOS13"


@breaks("CML-M008")
def pipeline_reads_missing_input(zoo, spec, tmp):
    first, second = nn_spec(), nn_spec()
    second.description.input[0].name = "hidden"
    return _pipeline(first, second), None


@breaks("CML-M009")
def preprocessing_for_renamed_input(zoo, spec, tmp):
    model = nn_spec()
    item = model.neuralNetwork.preprocessing.add()
    item.featureName = "image"
    item.scaler.channelScale = 1 / 255
    return model, None


# -- O: program ops -------------------------------------------------------------------------


@breaks("CML-O001")
def ios16_op_for_ios15(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    add_op(model, "fill_like", {"ref_tensor": "x"}, [("filled", FLOAT16, (1, 3, 16, 16))],
           immediate={"value": (FLOAT16, 0.0)})
    return model, "iOS15"


@breaks("CML-O001")
def unknown_op(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    add_op(model, "frobnicate", {"x": "x"}, [("frobbed", FLOAT16, (1, 3, 16, 16))])
    return model, None


@breaks("CML-O002")
def ios17_input_in_ios16_program(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    add_op(model, "reduce_argmax", {"x": "x"}, [("arg", INT32, (1, 16, 16))],
           immediate={"axis": (INT32, 1), "output_dtype": (2, "int32")})
    return model, "iOS16"


@breaks("CML-O002")
def unknown_input(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    find_op(model, "conv").inputs["frobnication"].arguments.add().name = "x"
    return model, None


@breaks("CML-O003")
def int8_tensor_in_ios16_program(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    add_op(model, "cast", {"x": "x"}, [("x_int8", INT8, (1, 3, 16, 16))],
           immediate={"dtype": (2, "int8")})
    return model, "iOS16"


@breaks("CML-O004")
def fp32_weight_with_fp16_input(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    conv = find_op(model, "conv")
    weight_name = conv.inputs["weight"].arguments[0].name
    for op in main_block(model).operations:
        if op.outputs and op.outputs[0].name == weight_name:
            op.outputs[0].type.tensorType.dataType = FLOAT32
    return model, "iOS16"


@breaks("CML-O005")
def run_time_conv_bias(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    conv = find_op(model, "conv")
    conv.inputs["bias"].arguments[0].name = "x"
    return model, "iOS16"


@breaks("CML-O006")
def fp16_lstm_in_ios16_program(zoo, spec, tmp):
    model = spec("iOS16-lstm")
    lstm = find_op(model, "lstm")
    x_name = lstm.inputs["x"].arguments[0].name
    for op in main_block(model).operations:
        for output in op.outputs:
            if output.name == x_name:
                output.type.tensorType.dataType = FLOAT16
    return model, "iOS16"


@breaks("CML-O007")
def uint4_tensor_in_ios16_program(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    add_op(model, "identity", {"x": "x"}, [("x_uint4", UINT4, (1, 3, 16, 16))])
    return model, "iOS16"


@breaks("CML-O008")
def constexpr_inputs_in_ios16_program(zoo, spec, tmp):
    model = spec("iOS16-lut4")
    op = find_op(model, "constexpr_lut_to_dense")
    op.inputs["indices"].arguments.add().name = "x"
    return model, None


@breaks("CML-O009")
def nn_only_op(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    find_op(model, "conv").type = "conv_quantized"
    return model, None


@breaks("CML-O010")
def dotted_var_name(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    find_op(model, "conv").outputs[0].name = "conv.out:0"
    return model, None


@breaks("CML-O011")
def classify_with_too_few_labels(zoo, spec, tmp):
    model = spec("iOS16-classifier")
    classes = find_op(model, "classify").inputs["classes"].arguments[0].value
    del classes.immediateValue.list.values[10:]
    classes.type.listType.length.constant.size = 10
    return model, None


# -- Q: compression -------------------------------------------------------------------------


@breaks("CML-Q001")
def palettized_for_ios15(zoo, spec, tmp):
    return spec("iOS16-lut4"), "iOS15"


@breaks("CML-Q002")
def activation_quantized_for_ios16(zoo, spec, tmp):
    return zoo("iOS17-w8a8"), "iOS16"


@breaks("CML-Q003")
def int4_for_ios17(zoo, spec, tmp):
    return spec("iOS18-int4_block"), "iOS17"


@breaks("CML-Q004")
def per_block_for_ios17(zoo, spec, tmp):
    return spec("iOS18-int4_block"), "iOS17"


@breaks("CML-Q005")
def blockwise_int8_for_ios17(zoo, spec, tmp):
    return spec("iOS18-int8"), "iOS17"


@breaks("CML-Q006")
def grouped_palettization_for_ios17(zoo, spec, tmp):
    return spec("iOS18-lut_grouped"), "iOS17"


@breaks("CML-Q007")
def lut_with_per_channel_scale(zoo, spec, tmp):
    model = spec("iOS18-lut_grouped")
    lut = find_op(model, "constexpr_lut_to_dense")
    shape = [d.constant.size for d in lut.outputs[0].type.tensorType.dimensions]
    add_op(model, "constexpr_blockwise_shift_scale", {"data": lut.outputs[0].name,
                                                       "scale": lut.outputs[0].name},
           [("scaled", FLOAT16, shape)])
    return model, "iOS17"


@breaks("CML-Q008")
def joint_sparse_quantization(zoo, spec, tmp):
    model = spec("iOS18-int8")
    find_op(model, "constexpr_blockwise_shift_scale").type = (
        "constexpr_sparse_blockwise_shift_scale")
    return model, "iOS17"


@breaks("CML-Q009")
def lut_of_five_entries(zoo, spec, tmp):
    model = spec("iOS16-lut4")
    lut = find_op(model, "constexpr_lut_to_dense").attributes["lut"]
    del lut.type.tensorType.dimensions[:]
    lut.type.tensorType.dimensions.add().constant.size = 5
    return model, None


@breaks("CML-Q010")
def fp16_nn_weights_for_ios11(zoo, spec, tmp):
    model = nn_spec()
    weights = model.neuralNetwork.layers[0].innerProduct.weights
    weights.float16Value = np.ones(6, np.float16).tobytes()
    del weights.floatValue[:]
    return model, "iOS11"


@breaks("CML-Q011")
def quantized_nn_weights_for_ios11(zoo, spec, tmp):
    return spec("iOS14-nn_int8"), "iOS11"


@breaks("CML-Q012")
def int8_dynamic_for_ios13(zoo, spec, tmp):
    model = nn_spec(rank5=False, version=5)
    model.neuralNetwork.layers[0].innerProduct.int8DynamicQuantize = True
    return model, "iOS13"


# -- N: NeuralNetwork layers ----------------------------------------------------------------


@breaks("CML-N001")
def resize_bilinear_for_ios11(zoo, spec, tmp):
    model = nn_spec(version=3)
    add_layer(model, "resize", "resizeBilinear", inputs=("y",), outputs=("z",))
    return model, "iOS11"


@breaks("CML-N002")
def ios13_layer_for_ios12(zoo, spec, tmp):
    model = nn_spec(version=4)
    add_layer(model, "erf", "erf", inputs=("y",), outputs=("z",))
    return model, "iOS12"


@breaks("CML-N003")
def cumsum_for_ios13(zoo, spec, tmp):
    return spec("iOS14-nn_cumsum"), "iOS13"


@breaks("CML-N004")
def squeeze_masks_for_ios13(zoo, spec, tmp):
    model = nn_spec(rank5=False, version=5)
    layer = add_layer(model, "slice", "sliceStatic", inputs=("y",), outputs=("z",))
    layer.sliceStatic.squeezeMasks.append(True)
    return model, "iOS13"


# -- F, I, C --------------------------------------------------------------------------------


@breaks("CML-F001")
def infinite_fp16_bias(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    conv = find_op(model, "conv")
    bias_name = conv.inputs["bias"].arguments[0].name
    for op in main_block(model).operations:
        if op.type == "const" and op.outputs[0].name == bias_name:
            tensor = op.attributes["val"].immediateValue.tensor
            values = np.full(8, np.inf, np.float16)
            tensor.bytes.values = values.tobytes()
    return model, None


@breaks("CML-F003", severity="error")
def mask_sentinel_times_mask(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    const = add_op(model, "const", {}, [("neg_big", FLOAT16, ())])
    const.attributes["val"].type.tensorType.dataType = FLOAT16
    const.attributes["val"].immediateValue.tensor.bytes.values = np.float16(-np.inf).tobytes()
    add_op(model, "mul", {"x": "x", "y": "neg_big"}, [("masked", FLOAT16, (1, 3, 16, 16))])
    add_op(model, "softmax", {"x": "masked"}, [("attn", FLOAT16, (1, 3, 16, 16))],
           immediate={"axis": (INT32, -1)})
    return model, None


@breaks("CML-I006")
def duplicate_feature_names(zoo, spec, tmp):
    model = nn_spec()
    model.description.output[0].name = "x"
    return model, None


def _nn_classifier(labels=("cat", "dog")):
    model = nn_spec()
    classifier = model.neuralNetworkClassifier
    classifier.layers.extend(model.neuralNetwork.layers)
    classifier.stringClassLabels.vector.extend(labels)
    model.description.output[0].name = "probs"
    model.description.output[0].type.dictionaryType.stringKeyType.SetInParent()
    label = model.description.output.add()
    label.name = "label"
    label.type.stringType.SetInParent()
    model.description.predictedFeatureName = "label"
    model.description.predictedProbabilitiesName = "probs"
    classifier.layers[0].output[0] = "probs"
    return model


@breaks("CML-C001")
def classifier_without_labels(zoo, spec, tmp):
    model = _nn_classifier()
    model.neuralNetworkClassifier.ClearField("stringClassLabels")
    return model, None


@breaks("CML-C002")
def classifier_label_output_missing(zoo, spec, tmp):
    model = _nn_classifier()
    model.description.predictedFeatureName = "winner"
    return model, None


def test_nn_classifier_helper_is_clean():
    result = lint(_nn_classifier(), target="iOS13")
    assert [f for f in result.findings if f.severity == "error"] == []


def test_label_count_mismatch_warns():
    result = lint(_nn_classifier(labels=("a", "b", "c")))
    assert [f.id for f in result.findings if f.severity == "warning"] == ["CML-C003"]


# -- structure: what Core ML's loaders reject before anything runs -----------------------------


def _main_function(model):
    return model.mlProgram.functions["main"]


@breaks("CML-O012")
def described_input_renamed(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.description.input[0].name = "pixels"
    return model, None


@breaks("CML-O012")
def described_input_dtype_differs(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.description.input[0].type.multiArrayType.dataType = 131104  # INT32; program: fp32
    return model, None


@breaks("CML-O012")
def described_input_shape_differs(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    shape = model.description.input[0].type.multiArrayType.shape
    shape[2] = shape[3] = 8  # program: 16 x 16
    return model, None


@breaks("CML-O012")
def described_output_not_returned(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.description.output[0].name = "logits"
    return model, None


@breaks("CML-O013")
def zero_dimension(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.description.input[0].type.multiArrayType.shape[1] = 0
    return model, None


@breaks("CML-O013")
def negative_dimension(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    model.description.output[0].type.multiArrayType.shape.extend([-1])
    return model, None


@breaks("CML-O014")
def op_reads_undefined_variable(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    conv = find_op(model, "conv")
    conv.inputs["x"].arguments[0].name = "x_normalized"
    return model, None


@breaks("CML-O014")
def op_consumes_its_own_output(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    conv = find_op(model, "conv")
    conv.inputs["x"].arguments[0].name = conv.outputs[0].name
    return model, None


@breaks("CML-O014")
def op_reads_a_later_value(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    block = main_block(model)
    last = block.operations[len(block.operations) - 1].outputs[0].name
    find_op(model, "conv").inputs["x"].arguments[0].name = last
    return model, None


@breaks("CML-O015")
def function_output_without_producer(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    main_block(model).outputs[0] = "ghost"
    model.description.output[0].name = "ghost"
    return model, None


@breaks("CML-O015")
def loop_body_output_without_producer(zoo, spec, tmp):
    model = spec("iOS17-gru")
    loop = find_op(model, "while_loop")
    body = loop.blocks[1]
    body.outputs[len(body.outputs) - 1] = "ghost"
    return model, None


@breaks("CML-O016")
def program_without_main(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    functions = model.mlProgram.functions
    functions["entry"].CopyFrom(functions["main"])
    del functions["main"]
    return model, None


@breaks("CML-O017")
def const_holds_too_many_values(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    for op in main_block(model).operations:
        if op.type == "const" and op.outputs[0].name.endswith("strides_0"):
            op.attributes["val"].immediateValue.tensor.ints.values.append(1)
            return model, None
    raise LookupError("strides const")


@breaks("CML-O017")
def fp16_const_truncated(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    for op in main_block(model).operations:
        if op.type == "const" and op.outputs[0].name == "conv_bias_to_fp16":
            tensor = op.attributes["val"].immediateValue.tensor
            tensor.bytes.values = tensor.bytes.values[:-2]  # 7 fp16 values for shape [8]
            return model, None
    raise LookupError("conv_bias_to_fp16")


@breaks("CML-O018")
def duplicate_program_input(zoo, spec, tmp):
    model = spec("iOS16-cnn")
    function = _main_function(model)
    function.inputs.add().CopyFrom(function.inputs[0])
    return model, None


@breaks("CML-N006")
def layer_reads_undefined_blob(zoo, spec, tmp):
    model = spec("iOS13-nn_cnn")
    layers = model.neuralNetwork.layers
    layers[len(layers) - 1].input[0] = "features"
    return model, None


@breaks("CML-N007")
def network_without_layers(zoo, spec, tmp):
    model = spec("iOS13-nn_cnn")
    del model.neuralNetwork.layers[:]
    return model, None


@breaks("CML-N008")
def layer_without_type(zoo, spec, tmp):
    model = spec("iOS13-nn_cnn")
    layer = model.neuralNetwork.layers[0]
    layer.ClearField(layer.WhichOneof("layer"))
    return model, None


def test_structural_rules_name_the_fault(zoo_spec):
    model = zoo_spec("iOS16-cnn")
    conv = find_op(model, "conv")
    conv.inputs["x"].arguments[0].name = "x_normalized"
    messages = [f.message for f in lint(model).findings if f.id == "CML-O014"]
    assert messages == ["op 'conv' (var_14_cast_fp16) reads 'x_normalized', which is not "
                        "defined before it in its block or an enclosing one"]
