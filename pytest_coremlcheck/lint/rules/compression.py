"""CML-Q: compressed weights (palettization, quantization, sparsity) and the OS they need."""

from __future__ import annotations

from google.protobuf.message import Message

from ..rule import Problem, Requirement, rule
from ..spec import tensor_dtype, tensor_shape

_PASSES = "coremltools/optimize/coreml/_quantization_passes.py"

_IOS16_CONSTEXPR = {
    "constexpr_affine_dequantize": "8-bit linear weight quantization",
    "constexpr_lut_to_dense": "weight palettization (LUT)",
    "constexpr_sparse_to_dense": "weight sparsity",
    "constexpr_cast": "fp16 weight cast",
}
_IOS18_CONSTEXPR = {
    "constexpr_blockwise_shift_scale": "blockwise weight quantization",
    "constexpr_lut_to_sparse": "sparse palettization (joint compression)",
    "constexpr_sparse_blockwise_shift_scale": "sparse quantization (joint compression)",
}
_LUT_SIZES = {2, 4, 16, 64, 256}


def _where(op) -> str:
    return op.function.model.where()


@rule("CML-Q001", "weight-compression", severity="error", min_target="iOS16 (spec 7)",
      supersedes=("CML-O001",),
      summary="Compressed ML-program weights (constexpr ops) need iOS16.",
      why="""ML program weight compression — palettization (constexpr_lut_to_dense), 8-bit
      linear quantization (constexpr_affine_dequantize), sparsity (constexpr_sparse_to_dense)
      and constexpr_cast — is decompressed by constexpr ops that exist from iOS16.""",
      fix="""Ship uncompressed fp16 weights for iOS15, or raise the target to iOS16 (then
      compress with coremltools.optimize.coreml).""",
      source=f"{_PASSES} AbstractCompressionPass._MINIMUM_OPSET_VERSION = iOS16; "
             "docs-guides/source/opt-whats-new.md")
def weight_compression(ctx):
    for op in ctx.ops():
        if op.type in _IOS16_CONSTEXPR:
            yield Requirement(7, f"{op.describe()}{_where(op)} ({_IOS16_CONSTEXPR[op.type]})",
                              op.location, op.function.model)


@rule("CML-Q002", "activation-quantization", severity="error", min_target="iOS17 (spec 8)",
      supersedes=("CML-O001",),
      summary="Activation quantization (quantize/dequantize ops, W8A8) needs iOS17.",
      why="""quantize and dequantize ops, which carry 8-bit activations between layers,
      arrived with opset CoreML7. An iOS16 device fails with "Unknown opset 'CoreML7'".""",
      fix="Quantize weights only for older targets, or raise the target to iOS17.",
      source=f"{_PASSES} AbstractActCompressionPass._MINIMUM_OPSET_VERSION = iOS17; "
             "apple/coremltools#2116; pytorch/executorch#13305")
def activation_quantization(ctx):
    for op in ctx.ops():
        if op.type in ("quantize", "dequantize"):
            yield Requirement(8, f"{op.describe()}{_where(op)} (activation quantization)",
                              op.location, op.function.model)


@rule("CML-Q003", "four-bit-quantization", severity="error", min_target="iOS18 (spec 9)",
      supersedes=("CML-Q005", "CML-O001", "CML-O007"),
      summary="4-bit linear weight quantization needs iOS18.",
      why="""int4/uint4 weights (constexpr_blockwise_shift_scale data, or the non-zero data of
      constexpr_sparse_blockwise_shift_scale) arrived with iOS18.""",
      fix="Use 8-bit quantization or palettization for older targets.",
      source=f"{_PASSES} (\"The 4-bit quantization is supported since iOS18\"); "
             "apple/coremltools#2283")
def four_bit_quantization(ctx):
    keys = {"constexpr_blockwise_shift_scale": "data",
            "constexpr_sparse_blockwise_shift_scale": "nonzero_data"}
    for op in ctx.ops():
        if op.type in keys:
            value_type = op.param_type(keys[op.type])
            dtype = tensor_dtype(value_type) if value_type is not None else None
            if dtype in ("INT4", "UINT4"):
                yield Requirement(9, f"{op.describe()}{_where(op)} ({dtype} weights)",
                                  op.location, op.function.model)


def _block_axes(op) -> list[tuple[int, int]]:
    """(axis, block size) where the scale holds blocks rather than one value per axis entry."""
    data_type, scale_type = op.param_type("data"), op.param_type("scale")
    if data_type is None or scale_type is None:
        return []
    data, scale = tensor_shape(data_type), tensor_shape(scale_type)
    if not data or not scale or len(data) != len(scale):
        return []
    out = []
    for axis, (d, s) in enumerate(zip(data, scale, strict=True)):
        if d and s and s > 1 and d // s > 1:
            out.append((axis, d // s))
    return out


@rule("CML-Q004", "per-block-quantization", severity="error", min_target="iOS18 (spec 9)",
      supersedes=("CML-Q005", "CML-O001"),
      summary="Per-block weight quantization needs iOS18.",
      why="""Per-block quantization (a scale per block of channels, e.g. block_size=32)
      exists only in the iOS18 constexpr_blockwise_shift_scale op; iOS16/17 support
      per-tensor and per-channel scales only.""",
      fix="Use per-channel granularity for older targets.",
      source=f"{_PASSES} (\"The per_block quantization is supported since iOS18\"); "
             "coremltools/converters/mil/mil/ops/defs/iOS18/compression.py")
def per_block_quantization(ctx):
    for op in ctx.ops():
        if op.type == "constexpr_blockwise_shift_scale":
            blocks = _block_axes(op)
            if blocks:
                detail = ", ".join(f"axis {a} in blocks of {b}" for a, b in blocks)
                yield Requirement(9, f"{op.describe()}{_where(op)} (per-block scales: {detail})",
                                  op.location, op.function.model)


@rule("CML-Q005", "ios18-constexpr", severity="error", min_target="iOS18 (spec 9)",
      supersedes=("CML-O001",),
      summary="iOS18 compression ops need iOS18 (even plain per-channel int8 from an iOS18 "
              "conversion).",
      why="""Converting for iOS18 writes every quantized weight, even per-channel int8, as
      constexpr_blockwise_shift_scale; joint compression uses constexpr_lut_to_sparse and
      constexpr_sparse_blockwise_shift_scale. None exist before iOS18, so re-compressing for an
      older target is needed, not just a lower version number.""",
      fix="Re-convert and re-compress with minimum_deployment_target set to the target.",
      source="coremltools/converters/mil/mil/ops/defs/iOS18/compression.py")
def ios18_constexpr(ctx):
    for op in ctx.ops():
        if op.type in _IOS18_CONSTEXPR:
            yield Requirement(9, f"{op.describe()}{_where(op)} ({_IOS18_CONSTEXPR[op.type]})",
                              op.location, op.function.model)


def _lut_features(op) -> list[str]:
    lut_type, indices_type = op.param_type("lut"), op.param_type("indices")
    out = []
    lut = tensor_shape(lut_type) if lut_type is not None else None
    if lut and len(lut) > 2 and any(d not in (1, None) for d in lut[:-2]):
        out.append(f"per-grouped-channel LUTs {lut}")
    if lut and len(lut) > 2 and lut[-1] not in (1, None):
        out.append(f"vector palettization (vector size {lut[-1]})")
    elif op.param("vector_axis") is not None or "vector_axis" in op.proto.inputs:
        out.append("vector palettization (vector_axis)")
    if indices_type is not None and tensor_dtype(indices_type) == "UINT3":
        out.append("3-bit indices")
    if lut_type is not None and tensor_dtype(lut_type) in ("INT8", "UINT8"):
        out.append(f"{tensor_dtype(lut_type)} LUT")
    return out


@rule("CML-Q006", "ios18-palettization", severity="error", min_target="iOS18 (spec 9)",
      supersedes=("CML-O002", "CML-O007"),
      summary="Grouped-channel, vector, 3-bit or int8-LUT palettization needs iOS18.",
      why="""iOS16 palettization has one LUT per tensor with 1, 2, 4, 6 or 8 bits. Per
      grouped-channel LUTs, vector palettization (cluster_dim > 1), 3-bit indices and int8
      LUTs use the iOS18 form of constexpr_lut_to_dense.""",
      fix="Use per-tensor palettization with 1/2/4/6/8 bits for older targets.",
      source=f"{_PASSES} (\"The {{}} palettization is supported since iOS18\"); "
             "docs-guides/source/opt-palettization-overview.md")
def ios18_palettization(ctx):
    for op in ctx.ops():
        if op.type == "constexpr_lut_to_dense":
            features = _lut_features(op)
            if features:
                yield Requirement(9, f"{op.describe()}{_where(op)} ({', '.join(features)})",
                                  op.location, op.function.model)


def _feeds(op, consumer_type: str, key: str | None = None) -> list:
    out = []
    for output in op.proto.outputs:
        for consumer, input_key in op.function.consumers.get(output.name, []):
            if consumer.type == consumer_type and (key is None or input_key == key):
                out.append(consumer)
    return out


@rule("CML-Q007", "lut-with-scale", severity="error", min_target="iOS18 (spec 9)",
      supersedes=("CML-Q005", "CML-O001"),
      summary="Palettization with per-channel scales needs iOS18.",
      why="""A LUT whose output is rescaled per channel (constexpr_lut_to_dense feeding
      constexpr_blockwise_shift_scale) is only expressible with iOS18 ops.""",
      fix="Palettize without per-channel scale for older targets.",
      source=f"{_PASSES} (\"Palettization with per-channel-scale is only supported since "
             "iOS18\")")
def lut_with_scale(ctx):
    for op in ctx.ops():
        if op.type == "constexpr_lut_to_dense":
            for consumer in _feeds(op, "constexpr_blockwise_shift_scale"):
                yield Requirement(9, f"{consumer.describe()}{_where(op)} scaling LUT "
                                     f"'{op.name}'", consumer.location, op.function.model)


@rule("CML-Q008", "joint-compression", severity="error", min_target="iOS18 (spec 9)",
      supersedes=("CML-Q005", "CML-O001"),
      summary="Joint compression (sparse + palettized / sparse + quantized) needs iOS18.",
      why="""Combining pruning with palettization or quantization uses
      constexpr_lut_to_sparse / constexpr_sparse_blockwise_shift_scale chained into
      constexpr_sparse_to_dense, which exist from iOS18 only.""",
      fix="Apply one compression method for older targets.",
      source=f"{_PASSES} (\"Joint compression is only supported since iOS18\"); "
             "docs-guides/source/opt-pruning-overview.md")
def joint_compression(ctx):
    for op in ctx.ops():
        if op.type in ("constexpr_lut_to_sparse", "constexpr_sparse_blockwise_shift_scale"):
            yield Requirement(9, f"{op.describe()}{_where(op)} (joint compression)",
                              op.location, op.function.model)


@rule("CML-Q009", "lut-size-invalid", severity="error",
      summary="An iOS16-style palettization LUT does not have 2, 4, 16, 64 or 256 entries.",
      why="""The iOS16 constexpr_lut_to_dense takes 1, 2, 4, 6 or 8-bit indices, i.e. a LUT of
      2, 4, 16, 64 or 256 values; other sizes are rejected.""",
      fix="Palettize with nbits in {1, 2, 4, 6, 8}.",
      source="coremltools/converters/mil/mil/ops/defs/iOS16/constexpr_ops.py (\"n_bits … one "
             "of {1, 2, 4, 6, 8}\")")
def lut_size_invalid(ctx):
    for op in ctx.ops():
        if op.type != "constexpr_lut_to_dense" or (op.opset_spec or 0) >= 9:
            continue
        lut_type = op.param_type("lut")
        lut = tensor_shape(lut_type) if lut_type is not None else None
        if lut and len(lut) == 1 and lut[0] is not None and lut[0] not in _LUT_SIZES:
            yield Problem(f"{op.describe()}{_where(op)} has a LUT of {lut[0]} entries",
                          op.location)


def _weight_params(message, depth: int = 0):
    """Every ``WeightParams`` inside an NN layer message, found by walking set fields."""
    if depth > 6:
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:  # e.g. a custom layer's parameters
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items = list(value.values())
        else:
            items = [value] if isinstance(value, Message) else value
        for item in items:
            if field.message_type.name == "WeightParams":
                yield field.name, item
            else:
                yield from _weight_params(item, depth + 1)


def _nn_weights(ctx):
    def collect():
        out = []
        for model in ctx.models:
            network = model.neural_network
            if network is None:
                continue
            for layer in network.layers:
                kind = layer.WhichOneof("layer")
                if kind is None:
                    continue
                params = getattr(layer, kind)
                for name, weights in _weight_params(params):
                    out.append((model, layer, kind, name, weights))
        return out

    return ctx.memo("nn_weights", collect)


@rule("CML-Q010", "nn-fp16-weights", severity="error", min_target="iOS11.2 (spec 2)",
      summary="Half-precision NeuralNetwork weights need iOS11.2.",
      why="WeightParams.float16Value was added with spec 2.",
      fix="Store fp32 weights for iOS11.0.",
      source="coremltools _MINIMUM_FP16_SPEC_VERSION; mlmodel/src/Utils.cpp hasFP16Weights")
def nn_fp16_weights(ctx):
    for model, layer, kind, name, weights in _nn_weights(ctx):
        if len(weights.float16Value):
            yield Requirement(2, f"fp16 {name} of layer '{layer.name}' ({kind}){model.where()}",
                              model.loc(f"layers/{layer.name}"), model)


@rule("CML-Q011", "nn-quantized-weights", severity="error", min_target="iOS12 (spec 3)",
      summary="1–8-bit quantized NeuralNetwork weights need iOS12.",
      why="""Linear and lookup-table quantized weights (rawValue with quantization params)
      were added with spec 3.""",
      fix="Use fp16 weights for iOS11.",
      source="coremltools _MINIMUM_QUANTIZED_MODEL_SPEC_VERSION; coremltools/models/"
             "neural_network/quantization_utils.py")
def nn_quantized_weights(ctx):
    for model, layer, kind, name, weights in _nn_weights(ctx):
        if weights.HasField("quantization") and weights.quantization.numberOfBits:
            bits = weights.quantization.numberOfBits
            yield Requirement(3, f"{bits}-bit {name} of layer '{layer.name}' ({kind})"
                                 f"{model.where()}", model.loc(f"layers/{layer.name}"), model)


@rule("CML-Q012", "nn-int8-dynamic", severity="error", min_target="iOS14 (spec 5)",
      summary="int8 dynamic quantization of innerProduct/batchedMatmul needs iOS14.",
      why="""int8DynamicQuantize (weights in int8RawValue, activations quantized at run time)
      was added with spec 5.""",
      fix="Use weight-only quantization for older targets.",
      source="coremltools/models/neural_network/quantization_utils.py; mlmodel/src/Utils.cpp "
             "hasIOS14NeuralNetworkFeatures")
def nn_int8_dynamic(ctx):
    for model in ctx.models:
        network = model.neural_network
        if network is None:
            continue
        for layer in network.layers:
            kind = layer.WhichOneof("layer")
            dynamic = kind in ("innerProduct", "batchedMatmul") and getattr(
                layer, kind).int8DynamicQuantize
            if dynamic:
                yield Requirement(5, f"int8 dynamic quantization of layer '{layer.name}' "
                                     f"({kind}){model.where()}",
                                  model.loc(f"layers/{layer.name}"), model)
    for model, layer, kind, name, weights in _nn_weights(ctx):
        if len(weights.int8RawValue):
            yield Requirement(5, f"int8 {name} of layer '{layer.name}' ({kind})"
                                 f"{model.where()}", model.loc(f"layers/{layer.name}"), model)


#: Weight file size above which an uncompressed iOS16+ program gets a note (bytes).
LARGE_WEIGHTS = 50 * 1024 * 1024


@rule("CML-Q013", "uncompressed-weights", severity="info", min_target="iOS16",
      summary="A large ML program ships uncompressed weights although its target can "
              "decompress.",
      why="""From iOS16 Core ML decompresses palettized and quantized weights at load time.
      Apple recommends 6- or 8-bit palettization or 8-bit weight quantization as the minimum
      for models shipped in fp16; this one has over 50 MB of weights and no compression.""",
      fix="Compress with coremltools.optimize.coreml (palettize_weights / "
          "linear_quantize_weights) and check accuracy with coremlcheck.",
      source="docs-guides/source/opt-overview.md")
def uncompressed_weights(ctx):
    target_spec = ctx.target.spec if ctx.target else ctx.top.declared
    if target_spec < 7:
        return
    for model in ctx.models:
        program = model.program
        if program is None or any(op.type.startswith("constexpr_") for op in program.ops()):
            continue
        size = ctx.blobs.file_size("@model_path/weights/weight.bin")
        if size is not None and size > LARGE_WEIGHTS:
            yield Problem(f"{size / 2**20:.0f} MB of uncompressed weights{model.where()}; "
                          f"{ctx.name(target_spec)} can load compressed weights",
                          model.loc())
