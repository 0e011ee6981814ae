"""CML-O: ops, op inputs and tensor dtypes of ML programs, checked against the opset tables."""

from __future__ import annotations

import re

from .. import catalog
from ..rule import Problem, Requirement, rule
from ..spec import FLOAT_DTYPES, tensor_dtype, tensor_shape
from ..targets import MLPROGRAM_MIN_SPEC

_SMALL_INTS = frozenset({"INT8", "UINT8", "INT16", "UINT16"})
_SUB_BYTE = frozenset({"INT4", "UINT1", "UINT2", "UINT3", "UINT4", "UINT6"})
_WIDE_BLOB = frozenset({"UINT16", "INT16", "INT32", "UINT32"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_@]*$")
_REGISTRY = "coremltools/converters/mil/mil/ops/registry.py SSAOpRegistry.core_ops"


def _is_constexpr(op) -> bool:
    return op.type.startswith("constexpr_")


def _skip(op) -> bool:
    return op.type == "const"


@rule("CML-O001", "op-not-in-opset", severity="error", min_target="per op (iOS16, iOS17, iOS18)",
      summary="An op does not exist in the target's opset.",
      why="""Each MIL op arrived in some opset: e.g. fill_like, pixel_unshuffle (iOS16); resize
      (iOS17); scaled_dot_product_attention, slice_update (iOS18). The linter reads the
      first opset of every op from coremltools' op registry at run time, so a newer coremltools
      teaches it new ops. An op type no opset knows is reported too.""",
      fix="""Re-convert for the target: the converter then lowers the op to older ones (e.g.
      scaled_dot_product_attention becomes matmul + softmax), or raise the target.""",
      source=f"{_REGISTRY}; coremltools/converters/mil/converter.py (\"Please update the "
             "minimum_deployment_target … since op … is only available in opset …\"); "
             "apple/coremltools#2116")
def op_not_in_opset(ctx):
    table = ctx.opsets
    for op in ctx.ops():
        if _skip(op):
            continue
        first = table.first_spec(op.type)
        if first is None:
            if op.type in catalog.NN_ONLY_OPS:
                continue
            newer = op.opset_spec is not None and op.opset_spec > table.newest_spec
            yield Problem(f"{op.describe()}{op.function.model.where()} is not an op of any "
                          f"opset in the {table.source}", op.location,
                          severity="warning" if newer else None)
            continue
        needed = max(first, MLPROGRAM_MIN_SPEC)
        if needed > MLPROGRAM_MIN_SPEC:
            yield Requirement(needed, f"{op.describe()}{op.function.model.where()}",
                              op.location, op.function.model)


def _input_keys(op) -> list[str]:
    keys = list(op.proto.inputs.keys())
    if _is_constexpr(op):
        keys += [k for k in op.proto.attributes.keys() if k != "name" and k not in keys]
    return keys


@rule("CML-O002", "op-input-not-in-opset", severity="error", min_target="per op input",
      summary="An op uses an input that its opset version does not have.",
      why="""Ops gain inputs in later opsets (gather.batch_dims and topk.sort in iOS16,
      *.validate_indices and reduce_argmax.output_dtype in iOS17, gru.reset_after and
      constexpr_lut_to_dense.vector_axis in iOS18) and occasionally lose them
      (crop_resize.roi, constexpr_lut_to_dense.shape). The input set of each op version comes
      from coremltools' op registry; required inputs that are missing are reported too.""",
      fix="Re-convert with minimum_deployment_target equal to the target.",
      source=f"{_REGISTRY} (input_spec per op version)")
def op_input_not_in_opset(ctx):
    table = ctx.opsets
    for op in ctx.ops():
        info = table.get(op.type)
        spec = op.opset_spec
        if _skip(op) or info is None or spec is None:
            continue
        current = info.inputs_at(max(spec, MLPROGRAM_MIN_SPEC))
        where = op.function.model.where()
        keys = _input_keys(op)
        for key in keys:
            if current is not None and key in current:
                continue
            first = info.input_first_spec(key)
            if first is not None and first > spec:
                yield Requirement(first, f"input '{key}' of {op.describe()}{where}", op.location,
                                  op.function.model)
            elif first is not None:
                yield Problem(f"{op.describe()}{where} has input '{key}', which opset "
                              f"'{op.function.opset}' no longer accepts", op.location)
            elif info.inputs_known:
                newer = spec > table.newest_spec
                yield Problem(f"{op.describe()}{where} has input '{key}', unknown to every "
                              f"version of the op in the {table.source}", op.location,
                              severity="warning" if newer else None)
        if current is not None and info.inputs_known:
            for key, input_info in current.items():
                if not input_info.optional and key not in keys:
                    yield Problem(f"{op.describe()}{where} lacks required input '{key}'",
                                  op.location)


def _program_opset_below(op, spec: int) -> bool:
    return op.opset_spec is not None and op.opset_spec < spec


@rule("CML-O003", "small-int-tensors", severity="error", min_target="iOS17 (spec 8)",
      summary="int8/uint8/int16/uint16 tensors between ops need iOS17.",
      why="""Before opset CoreML7 the runtime's intermediate tensors are fp16, fp32, int32,
      bool or string; 8- and 16-bit integer tensors flowing between ops (not just stored
      weights) arrived with iOS17.""",
      fix="Cast to int32 for older targets, or raise the target to iOS17.",
      source="coremltools/converters/mil/backend/mil/passes/adjust_io_to_supported_types.py "
             "_get_runtime_supported_types")
def small_int_tensors(ctx):
    for op in ctx.ops():
        if _is_constexpr(op) or not _program_opset_below(op, 8):
            continue
        dtypes = sorted({d for d in op.output_dtypes() if d in _SMALL_INTS})
        if dtypes:
            yield Requirement(8, f"{'/'.join(dtypes)} output of {op.describe()}"
                                 f"{op.function.model.where()}", op.location, op.function.model)


def _domain_partners(ctx, op) -> list[str]:
    """Inputs that must share x's dtype in the op version in effect (registry), or every
    other float input (catalog)."""
    info = ctx.opsets.get(op.type)
    if info is not None and ctx.opsets.knows_dtypes and op.opset_spec is not None:
        current = info.inputs_at(op.opset_spec)
        if current and "x" in current and current["x"].domain:
            return [k for k, v in current.items() if k != "x" and v.domain == current["x"].domain]
    return [k for k in op.proto.inputs.keys() if k != "x"]


@rule("CML-O004", "mixed-precision-params", severity="error", min_target="iOS17 (spec 8)",
      summary="Op parameters in a different float type than the input need iOS17.",
      why="""Before iOS17, parameters of ops such as conv, linear, layer_norm, batch_norm had
      to have the input's float type; iOS17 gave them their own type domain, so an fp16 input
      with fp32 weights (mixed precision) is valid only from iOS17.""",
      fix="Convert with one compute precision for older targets.",
      source=f"{_REGISTRY} (type_domains T/U of iOS17 op versions)")
def mixed_precision_params(ctx):
    for op in ctx.ops():
        if op.type not in catalog.MIXED_PRECISION_OPS or not _program_opset_below(op, 8):
            continue
        x_dtype = op.input_dtype("x")
        if x_dtype not in FLOAT_DTYPES:
            continue
        for key in _domain_partners(ctx, op):
            dtype = op.input_dtype(key)
            if dtype in FLOAT_DTYPES and dtype != x_dtype:
                yield Requirement(8, f"{dtype} '{key}' with {x_dtype} 'x' in {op.describe()}"
                                     f"{op.function.model.where()}", op.location,
                                  op.function.model)
                break


def _is_compile_time(function, name: str) -> bool:
    producer = function.producers.get(name)
    return producer is not None and (producer.type == "const" or _is_constexpr(producer))


@rule("CML-O005", "non-const-conv-params", severity="error", min_target="iOS17 (spec 8)",
      summary="A conv bias or conv_transpose weight/bias computed at run time needs iOS17.",
      why="""Until iOS16 conv.bias and conv_transpose.weight/bias had to be compile-time
      constants; iOS17 accepts values computed by other ops.""",
      fix="Fold the parameter into a constant for older targets.",
      source="coremltools/converters/mil/mil/ops/defs/iOS17/conv.py (const=False) vs iOS15/"
             "conv.py")
def non_const_conv_params(ctx):
    keys = {"conv": ("bias",), "conv_transpose": ("weight", "bias")}
    for op in ctx.ops():
        if op.type not in keys or not _program_opset_below(op, 8):
            continue
        for key in keys[op.type]:
            for name in op.bound_names.get(key, []):
                if not _is_compile_time(op.function, name):
                    yield Requirement(8, f"run-time '{key}' of {op.describe()}"
                                         f"{op.function.model.where()}", op.location,
                                      op.function.model)


@rule("CML-O006", "fp16-recurrent", severity="error", min_target="iOS17 (spec 8)",
      summary="fp16 lstm/gru/rnn ops need iOS17.",
      why="""Recurrent ops accept fp16 tensors from iOS17; before that coremltools keeps them
      in fp32 with casts around them.""",
      fix="Keep recurrent ops in fp32 for older targets (coremltools does this itself).",
      source=f"{_REGISTRY} (lstm/gru/rnn iOS17 type domains)")
def fp16_recurrent(ctx):
    for op in ctx.ops():
        if op.type in catalog.RECURRENT_OPS and _program_opset_below(op, 8):
            if "FLOAT16" in {op.input_dtype(k) for k in op.proto.inputs.keys()}:
                yield Requirement(8, f"fp16 {op.describe()}{op.function.model.where()}",
                                  op.location, op.function.model)


@rule("CML-O007", "sub-byte-types", severity="error", min_target="iOS18 (spec 9)",
      summary="Sub-byte tensors (int4, uint1…uint6) or 16/32-bit integer weight blobs need "
              "iOS18.",
      why="""4-bit and smaller element types, and storing uint16/int16/int32/uint32 constants
      in the weight file, arrived with opset CoreML8 (iOS18 compression).""",
      fix="Use 8-bit compression for older targets.",
      source="coremltools/converters/mil/backend/mil/load.py should_use_weight_file; "
             "coremltools/converters/mil/mil/ops/defs/iOS18/compression.py")
def sub_byte_types(ctx):
    for op in ctx.ops():
        if not _program_opset_below(op, 9):
            continue
        dtypes = {d for d in op.output_dtypes() if d in _SUB_BYTE}
        for value in op.proto.attributes.values():
            dtype = tensor_dtype(value.type)
            if dtype in _SUB_BYTE:
                dtypes.add(dtype)
            elif value.WhichOneof("value") == "blobFileValue" and dtype in _WIDE_BLOB:
                dtypes.add(f"{dtype} blob")
        if dtypes:
            yield Requirement(9, f"{'/'.join(sorted(dtypes))} in {op.describe()}"
                                 f"{op.function.model.where()}", op.location, op.function.model)


@rule("CML-O008", "constexpr-serialization", severity="error",
      summary="constexpr parameters are stored in the wrong place for the opset.",
      why="""Up to opset CoreML7 a constexpr op keeps its parameters as attributes; from
      CoreML8 they are inputs bound to const ops. A file mixing the two was edited or
      assembled by hand and does not load.""",
      fix="Re-save the model with coremltools.",
      source="coremltools/converters/mil/backend/mil/load.py translate_constexpr")
def constexpr_serialization(ctx):
    for op in ctx.ops():
        if not _is_constexpr(op) or op.opset_spec is None:
            continue
        attributes = [k for k in op.proto.attributes.keys() if k != "name"]
        inputs = list(op.proto.inputs.keys())
        where = op.function.model.where()
        if op.opset_spec >= 9 and attributes:
            yield Problem(f"{op.describe()}{where} keeps {attributes} as attributes; opset "
                          f"'{op.function.opset}' expects inputs", op.location)
        elif op.opset_spec < 9 and inputs:
            yield Problem(f"{op.describe()}{where} takes {inputs} as inputs; opset "
                          f"'{op.function.opset}' expects attributes", op.location)


@rule("CML-O009", "nn-only-op", severity="error",
      summary="An op that only the NeuralNetwork backend supports appears in an ML program.",
      why="""Some MIL ops (conv_quantized) exist only as a NeuralNetwork layer mapping; the ML
      program runtime has no implementation.""",
      fix="Convert to mlprogram without the op (e.g. use constexpr weight compression).",
      source="coremltools/converters/mil/backend/nn/op_mapping.py")
def nn_only_op(ctx):
    for op in ctx.ops():
        if op.type in catalog.NN_ONLY_OPS:
            yield Problem(f"{op.describe()}{op.function.model.where()} only exists for "
                          "NeuralNetwork models", op.location)


@rule("CML-O010", "invalid-identifier", severity="error",
      summary="A function, variable or op name is not a valid MIL identifier.",
      why="""MIL.proto requires identifiers to match [A-Za-z_][A-Za-z0-9_@]*; the program
      parser rejects other names.""",
      fix="Re-convert (coremltools sanitizes names), or rename the value.",
      source="mlmodel/format/MIL.proto (\"Identifiers … must match the regular expression\")")
def invalid_identifier(ctx):
    for function in ctx.functions():
        where = function.model.where()
        if not _IDENTIFIER.match(function.name):
            yield Problem(f"function name '{function.name}'{where} is not an identifier",
                          function.model.loc(function.name))
        for value in function.proto.inputs:
            if not _IDENTIFIER.match(value.name):
                yield Problem(f"input '{value.name}' of function '{function.name}'{where} is "
                              "not an identifier", function.loc(value.name))
        for op in function.ops:
            for output in op.proto.outputs:
                if not _IDENTIFIER.match(output.name):
                    yield Problem(f"output '{output.name}' of {op.describe()}{where} is not an "
                                  "identifier", op.location)


def _class_count(op) -> int | None:
    for binding in op.bindings("classes"):
        value = binding.value if binding.WhichOneof("binding") == "value" else (
            op.function.const_value(binding.name))
        if value is None:
            return None
        if value.type.WhichOneof("type") == "listType":
            length = value.type.listType.length
            if length.WhichOneof("dimension") == "constant":
                return length.constant.size
            return len(value.immediateValue.list.values)
        shape = tensor_shape(value.type)
        if shape and all(d is not None for d in shape):
            count = 1
            for d in shape:
                count *= d
            return count
    return None


@rule("CML-O011", "classify-mismatch", severity="error",
      summary="A classify op's labels do not match its probabilities.",
      why="""The classify op maps each probability to a class label; the number of labels
      must equal the number of probabilities, which must be fp32.""",
      fix="Pass ct.ClassifierConfig with exactly one label per model output class.",
      source="coremltools/converters/mil/mil/ops/defs/iOS15/classify.py type_inference")
def classify_mismatch(ctx):
    for op in ctx.ops():
        if op.type != "classify":
            continue
        where = op.function.model.where()
        probabilities = op.input_type("probabilities")
        shape = tensor_shape(probabilities) if probabilities is not None else None
        dtype = tensor_dtype(probabilities) if probabilities is not None else None
        if dtype is not None and dtype != "FLOAT32":
            yield Problem(f"{op.describe()}{where}: probabilities are {dtype}, not FLOAT32",
                          op.location)
        count = _class_count(op)
        if shape and count is not None and all(d is not None for d in shape):
            size = 1
            for d in shape:
                size *= d
            if size != count:
                yield Problem(f"{op.describe()}{where}: {count} class labels for {size} "
                              f"probabilities (shape {shape})", op.location)
