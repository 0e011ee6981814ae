"""Real conversions using every construct the error-level rules inspect lint without an error:
a false error fails a correct conversion's check. Each case also asserts that the file really
uses its construct, so a change of coremltools' output cannot make the test vacuous."""

from __future__ import annotations

import pytest

from pytest_coremlcheck.lint import lint
from pytest_coremlcheck.lint.source import read_path


def _op_types(spec) -> set[str]:
    out: set[str] = set()

    def walk(block):
        for op in block.operations:
            out.add(op.type)
            for nested in op.blocks:
                walk(nested)

    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            walk(block)
    return out


def _layer_kinds(spec) -> set[str]:
    network = getattr(spec, spec.WhichOneof("Type"))
    return {layer.WhichOneof("layer") for layer in getattr(network, "layers", [])}


def _ops(*names):
    return lambda spec: set(names) <= _op_types(spec)


def _feature_kinds(spec) -> set[str]:
    features = list(spec.description.input) + list(spec.description.output)
    out = {f.type.WhichOneof("Type") for f in features}
    for feature in spec.description.input:
        if feature.type.WhichOneof("Type") == "multiArrayType":
            out.add(feature.type.multiArrayType.WhichOneof("ShapeFlexibility") or "fixed")
    return out


#: zoo case → (construct, predicate on the spec proving the file uses it).
CONSTRUCTS = {
    "iOS16-control_flow": ("cond and while_loop blocks", _ops("cond", "while_loop")),
    "iOS17-gru": ("GRU lowered to a while_loop", _ops("while_loop")),
    "iOS17-lstm": ("LSTM op", _ops("lstm")),
    "iOS13-nn_lstm": ("NeuralNetwork LSTM layer",
                      lambda s: "uniDirectionalLSTM" in _layer_kinds(s)),
    "iOS18-stateful": ("state (ct.StateType)",
                       lambda s: len(s.description.state) == 1 and _ops("read_state")(s)),
    "iOS18-multifunction": ("two functions",
                            lambda s: {f.name for f in s.description.functions} == {"small",
                                                                                     "big"}),
    "iOS16-lut4": ("palettized weights", _ops("constexpr_lut_to_dense")),
    "iOS18-lut_grouped": ("grouped-channel palettization", _ops("constexpr_lut_to_dense")),
    "iOS17-int8": ("int8 weights", _ops("constexpr_affine_dequantize")),
    "iOS18-int4_block": ("int4 per-block weights", _ops("constexpr_blockwise_shift_scale")),
    "iOS17-w8a8": ("quantized activations", _ops("quantize", "dequantize")),
    "iOS14-nn_int8": ("NeuralNetwork int8 weights",
                      lambda s: any(layer.convolution.weights.quantization.numberOfBits == 8
                                    for layer in s.neuralNetwork.layers
                                    if layer.WhichOneof("layer") == "convolution")),
    "iOS16-image": ("image input and output", lambda s: _feature_kinds(s) >= {"imageType"}),
    "iOS14-nn_image": ("NeuralNetwork image I/O", lambda s: "imageType" in _feature_kinds(s)),
    "iOS16-classifier": ("classifier outputs",
                         lambda s: s.description.predictedFeatureName == "classLabel"
                         and _ops("classify")(s)),
    "iOS15-flex_range": ("RangeDim input", lambda s: "shapeRange" in _feature_kinds(s)),
    "iOS16-flex_enum": ("EnumeratedShapes input",
                        lambda s: "enumeratedShapes" in _feature_kinds(s)),
    "iOS18-transformer": ("scaled_dot_product_attention",
                          _ops("scaled_dot_product_attention")),
}


@pytest.mark.parametrize("case_id", sorted(CONSTRUCTS))
def test_real_conversion_lints_without_errors(case_id, zoo):
    path = zoo(case_id)
    construct, uses = CONSTRUCTS[case_id]
    assert uses(read_path(path).spec), f"{case_id} no longer uses {construct}"
    target = case_id.split("-")[0]
    for result in (lint(path), lint(path, target=target)):
        errors = [(f.id, f.location, f.message) for f in result.findings
                  if f.severity in ("error", "fatal") or f.id == "CML-V999"]
        assert errors == [], f"{case_id} ({construct}) at {result.target}: {errors}"
