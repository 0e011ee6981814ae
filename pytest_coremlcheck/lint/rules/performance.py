"""CML-P: publicly documented reasons a model runs slower than it could (Neural Engine use,
dynamic shapes, size, I/O conversions)."""

from __future__ import annotations

from ..rule import Problem, rule
from ..spec import FLOAT_DTYPES, tensor_dtype

_FLEX = "docs-guides/source/flexible-inputs.md"
#: Weight size above which a model cannot run on the Neural Engine of an iPhone (bytes).
NE_LIMIT = 1024 ** 3


@rule("CML-P001", "fp32-program", severity="warning", min_target="iOS15",
      summary="An ML program computes in fp32, so it cannot use the GPU fp16 path or the "
              "Neural Engine.",
      why="""The Neural Engine and the GPU compute in fp16; an fp32-typed program "will only
      ever run with float 32 precision", i.e. on the CPU (or GPU in fp32). This is right when
      fp32 accuracy is needed, but often comes from compute_precision=FLOAT32 left on.""",
      fix="Convert with the default compute_precision (FLOAT16) and check accuracy with "
          "coremlcheck.",
      source="docs-guides/source/typed-execution.md")
def fp32_program(ctx):
    for function in ctx.functions():
        float_ops = fp16_ops = 0
        for op in function.ops:
            if op.type == "const" or op.type.startswith("constexpr_"):
                continue
            dtypes = [d for d in op.output_dtypes() if d in FLOAT_DTYPES]
            float_ops += bool(dtypes)
            fp16_ops += "FLOAT16" in dtypes
        if float_ops >= 2 and not fp16_ops:
            yield Problem(f"function '{function.name}'{function.model.where()} computes all "
                          f"{float_ops} float ops in fp32", function.model.loc(function.name))


def _ranges(feature):
    kind = feature.type_kind
    if kind == "multiArrayType":
        array = feature.proto.type.multiArrayType
        if array.WhichOneof("ShapeFlexibility") == "shapeRange":
            return [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges]
    elif kind == "imageType":
        image = feature.proto.type.imageType
        if image.WhichOneof("SizeFlexibility") == "imageSizeRange":
            size_range = image.imageSizeRange
            return [(size_range.heightRange.lowerBound, size_range.heightRange.upperBound),
                    (size_range.widthRange.lowerBound, size_range.widthRange.upperBound)]
    return None


@rule("CML-P002", "range-flexible-input", severity="warning",
      summary="A ranged (RangeDim) input keeps the model off the Neural Engine.",
      why="""Models with range-shaped inputs generally do not run on the Neural Engine
      ("MLE5Engine is not currently supported for models with range shape inputs"); from iOS
      17.4 the reshapeFrequency = .infrequent hint may allow it. Enumerated shapes do not
      have this limit.""",
      fix="Use ct.EnumeratedShapes with the shapes you need, or set "
          "MLModelConfiguration.optimizationHints.reshapeFrequency = .infrequent (iOS 17.4+).",
      source=f"{_FLEX}; apple/coremltools#1764, #1029, #2370")
def range_flexible_input(ctx):
    for model, feature in ctx.features():
        ranges = _ranges(feature) if feature.kind == "input" else None
        if ranges and any(low != high for low, high in ranges):
            yield Problem(f"{feature.describe()}{model.where()} has ranged dimensions "
                          f"{_describe(ranges)}", feature.location)


def _describe(ranges) -> str:
    return "[" + ", ".join(str(low) if low == high else
                           f"{low}..{'inf' if high < 0 else high}" for low, high in ranges) + "]"


@rule("CML-P003", "default-range-1-to-2", severity="warning",
      summary="An ML program input has a 1..2 range — coremltools' placeholder for an unknown "
              "dimension.",
      why="""When the source shape of a dimension is unknown and no shape is given, coremltools
      sets its range to lower bound 1, upper bound 2 ("Some dimensions in the input shape are
      unknown, hence they are set to flexible ranges…"). Real inputs then fail or run
      flexible for no reason.""",
      fix="Pass the real shape (or a real ct.RangeDim) in ct.convert(inputs=[...]).",
      source="coremltools/converters/mil/backend/mil/load.py")
def default_range_1_to_2(ctx):
    for model, feature in ctx.features():
        if model.type != "mlProgram" or feature.kind != "input":
            continue
        ranges = _ranges(feature)
        axes = [i for i, r in enumerate(ranges or []) if r == (1, 2)]
        if axes:
            yield Problem(f"{feature.describe()}{model.where()} has the placeholder range 1..2 "
                          f"on dimension(s) {axes}", feature.location)


_NN_DYNAMIC = {"reshapeDynamic", "getShape", "rangeDynamic", "sliceDynamic", "fillDynamic",
               "broadcastToDynamic", "randomNormalDynamic", "randomUniformDynamic",
               "randomBernoulliDynamic"}


@rule("CML-P004", "dynamic-layers", severity="info",
      summary="Shapes computed at run time (dynamic reshape/slice layers, shape → reshape).",
      why="""Conversion sometimes turns a static reshape into a fully dynamic one (getShape →
      reshapeDynamic, or shape → reshape in a program); such layers may not be supported on
      the Neural Engine.""",
      fix="Trace with fixed shapes, or make the reshape target constant in the source.",
      source="docs-guides/source/faqs.md")
def dynamic_layers(ctx):
    for model in ctx.models:
        network = model.neural_network
        if network is None:
            continue
        for layer in network.layers:
            kind = layer.WhichOneof("layer")
            if kind in _NN_DYNAMIC:
                yield Problem(f"layer '{layer.name}' ({kind}){model.where()} computes shapes at "
                              "run time", model.loc(f"layers/{layer.name}"))
    for op in ctx.ops():
        if op.type != "reshape":
            continue
        for name in op.bound_names.get("shape", []):
            producer = op.function.producers.get(name)
            if producer is not None and producer.type != "const":
                yield Problem(f"{op.describe()}{op.function.model.where()} takes its shape from "
                              f"{producer.describe()} at run time", op.location)


def _weights_bytes(ctx) -> int:
    size = ctx.blobs.file_size("@model_path/weights/weight.bin")
    if size is not None:
        return size
    if any(m.neural_network is not None for m in ctx.models):
        return ctx.file.spec_bytes or 0
    return 0


@rule("CML-P005", "too-large-for-iphone-ne", severity="warning",
      summary="Weights over 1 GB cannot run on an iPhone's Neural Engine.",
      why="""Apple: "if you are deploying a model to run on neural engine on an iPhone, it
      cannot be larger than 1 GB". Larger models fall back to GPU/CPU.""",
      fix="Compress the weights (coremltools.optimize) or split the model "
          "(ct.models.utils.bisect_model).",
      source="docs-guides/source/mlmodel-utilities.md")
def too_large_for_iphone_ne(ctx):
    if ctx.target is not None and ctx.target.family not in (None, "iOS"):
        return
    size = _weights_bytes(ctx)
    if size > NE_LIMIT:
        yield Problem(f"{size / 2**30:.2f} GB of weights exceeds the 1 GB iPhone Neural Engine "
                      "limit", "")


@rule("CML-P006", "fp32-io-around-fp16", severity="info", min_target="iOS16",
      summary="fp32 inputs are cast to fp16 first thing; fp16 I/O avoids the conversion.",
      why="""From iOS16 ML programs can take and return fp16 MultiArrays. A program whose
      fp32 input is immediately cast to fp16 converts every input on every prediction.""",
      fix="Declare the input as ct.TensorType(dtype=np.float16) when the target is iOS16+.",
      source="docs-guides/source/model-input-and-output-types.md")
def fp32_io_around_fp16(ctx):
    target_spec = ctx.target.spec if ctx.target else ctx.top.declared
    if target_spec < 7:
        return
    for model in ctx.models:
        if model.program is None:
            continue
        for function in model.program.functions:
            for value in function.proto.inputs:
                if tensor_dtype(value.type) != "FLOAT32":
                    continue
                casts = [op for op, _ in function.consumers.get(value.name, [])
                         if op.type == "cast" and _cast_to(op) == "fp16"]
                if casts:
                    yield Problem(f"input '{value.name}' of function '{function.name}'"
                                  f"{model.where()} is fp32 and cast to fp16 by "
                                  f"{casts[0].describe()}", function.loc(value.name))


def _cast_to(op) -> str | None:
    value = op.param("dtype")
    if value is None:
        return None
    immediate = value.immediateValue.tensor
    if immediate.WhichOneof("value") == "strings" and len(immediate.strings.values):
        return immediate.strings.values[0]
    return None


@rule("CML-P007", "layer-norm-enumerated", severity="info",
      summary="layer_norm with enumerated input shapes has been reported off the Neural "
              "Engine.",
      why="""A user report (not Apple documentation) found layer_norm not running on the
      Neural Engine when the model has EnumeratedShapes inputs. Worth checking in Xcode's
      performance report.""",
      fix="Check the compute-unit placement in Xcode's Core ML performance report.",
      source="apple/coremltools#1909")
def layer_norm_enumerated(ctx):
    for model in ctx.models:
        if model.program is None:
            continue
        enumerated = [f for f in model.features if f.kind == "input"
                      and _enumerated(f)]
        if not enumerated:
            continue
        norms = [op for op in model.program.ops() if op.type == "layer_norm"]
        if norms:
            yield Problem(f"{len(norms)} layer_norm op(s){model.where()} with enumerated input "
                          f"'{enumerated[0].name}'", norms[0].location)


def _enumerated(feature) -> bool:
    if feature.type_kind == "multiArrayType":
        return feature.proto.type.multiArrayType.WhichOneof("ShapeFlexibility") == \
            "enumeratedShapes"
    if feature.type_kind == "imageType":
        return feature.proto.type.imageType.WhichOneof("SizeFlexibility") == "enumeratedSizes"
    return False
