"""CML-O012…O018, CML-N006…N008: the structure Core ML's loaders check before anything runs —
the program matches its description, every value is defined before it is read, constants hold
as many elements as their shape, every NeuralNetwork blob has a producer."""

from __future__ import annotations

from ..rule import Problem, rule
from ..spec import OpView, tensor_dtype, tensor_shape

_MIL_PROTO = "mlmodel/format/MIL.proto"
_NN_VALIDATOR = "mlmodel/src/Validation/NeuralNetwork/NeuralNetworkValidator.cpp"
#: Description multiarray dtype → the program input dtypes it may stand for.
_PROGRAM_DTYPES = {"FLOAT32": {"FLOAT32"}, "FLOAT16": {"FLOAT16"}, "INT32": {"INT32"},
                   "INT8": {"INT8"}, "DOUBLE": {"FLOAT64", "FLOAT32"}}
_ARRAY_DTYPE_NAMES = {65568: "FLOAT32", 65600: "DOUBLE", 131104: "INT32", 131080: "INT8",
                      65552: "FLOAT16"}
#: Bits per element of dtypes whose immediate values are stored as ``bytes``.
_BYTE_BITS = {"FLOAT16": 16, "BFLOAT16": 16, "INT8": 8, "UINT8": 8, "INT16": 16, "UINT16": 16,
              "UINT32": 32, "UINT64": 64, "INT4": 4, "UINT4": 4, "UINT1": 1, "UINT2": 2,
              "UINT3": 3, "UINT6": 6, "FLOAT8E4M3FN": 8, "FLOAT8E5M2": 8}
_NESTED_NETWORKS = {"branch": ("ifBranch", "elseBranch"),
                    "loop": ("conditionNetwork", "bodyNetwork")}


def _interface_functions(model):
    """(description inputs, outputs, states, program function or None, function name) per
    interface of an ML program; single-function programs are described by ``main``."""
    by_name = {f.name: f for f in model.program.functions}
    for name, inputs, outputs, states in model.interface_sets():
        function_name = name or "main"
        yield inputs, outputs, states, by_name.get(function_name), function_name


def _fixed_shape(array) -> list[int] | None:
    return list(array.shape) if len(array.shape) else None


def _shape_problem(feature, value_type) -> str | None:
    array = feature.type.multiArrayType
    dims = tensor_shape(value_type)
    shape = _fixed_shape(array)
    if dims is None or shape is None or value_type.tensorType.rank < 0:
        return None
    if len(dims) != len(shape):
        return f"rank {len(shape)} {shape} in the description, rank {len(dims)} in the program"
    for expected, actual in zip(shape, dims):
        if actual is not None and actual != expected:
            return f"shape {shape} in the description, {dims} in the program"
    return None


def _input_problems(feature, value, where: str):
    kind = feature.type.WhichOneof("Type")
    if kind != "multiArrayType":
        return
    described = _ARRAY_DTYPE_NAMES.get(feature.type.multiArrayType.dataType)
    actual = tensor_dtype(value.type)
    if described in _PROGRAM_DTYPES and actual and actual not in _PROGRAM_DTYPES[described]:
        yield f"input '{feature.name}'{where} is {described} in the description but {actual} " \
              "in the program"
    problem = _shape_problem(feature, value.type)
    if problem:
        yield f"input '{feature.name}'{where}: {problem}"


@rule("CML-O012", "program-interface-mismatch", severity="error",
      summary="The model description and the ML program disagree on inputs or outputs.",
      why="""Core ML binds each described input to the program function's input of the same
      name, type and shape, and reads each described output from the function's outputs. An
      input the program lacks (or one the description lacks), a dtype or fixed shape that
      differs, or a described output that the function does not return makes the model fail
      to load ("Input ... not found in the program", "Output ... is not produced").""",
      fix="""Re-save with coremltools after renaming features (ct.utils.rename_feature renames
      both sides); do not edit the description or the program alone.""",
      source=f"{_MIL_PROTO} Function.inputs, Block.outputs; coremltools/converters/mil/"
             "backend/mil/load.py (the description is generated from the program)")
def program_interface_mismatch(ctx):
    for model in ctx.models:
        if model.program is None:
            continue
        for inputs, outputs, states, function, name in _interface_functions(model):
            if function is None or function.block is None:
                continue  # CML-O016, CML-T009, CML-V008
            where = f" of function '{name}'{model.where()}"
            values = {value.name: value for value in function.proto.inputs}
            for feature in inputs:
                location = model.loc(f"input/{feature.name}")
                if feature.name not in values:
                    yield Problem(f"described input '{feature.name}'{where} is not an input of "
                                  f"the program (program inputs: {sorted(values)})", location)
                    continue
                for message in _input_problems(feature, values[feature.name], where):
                    yield Problem(message, location)
            described = {f.name for f in inputs} | {f.name for f in states}
            for value_name in values:
                if value_name not in described:
                    yield Problem(f"program input '{value_name}'{where} is not in the model "
                                  "description", function.loc(value_name))
            returned = list(function.block.outputs)
            for feature in outputs:
                if feature.name not in returned:
                    yield Problem(f"described output '{feature.name}'{where} is not returned by "
                                  f"the function (it returns {returned})",
                                  model.loc(f"output/{feature.name}"))


@rule("CML-O013", "nonpositive-dimension", severity="error",
      summary="An input, output or program input has a dimension of zero or less.",
      why="""Multi-array shapes in the description and the program's input tensor types must
      be positive: Core ML allocates and checks inputs by these sizes, and a 0 or negative
      size (a hand edit, or -1 written for "any") is rejected at load.""",
      fix="Use a positive default size, and ct.RangeDim / EnumeratedShapes for flexibility.",
      source="mlmodel/format/FeatureTypes.proto ArrayFeatureType.shape; "
             f"{_MIL_PROTO} Dimension; mlmodel/src/Validation/InterfaceValidators.cpp")
def nonpositive_dimension(ctx):
    for model, feature in ctx.features():
        if feature.type_kind != "multiArrayType":
            continue
        array = feature.proto.type.multiArrayType
        shapes = [list(array.shape)] + [list(s.shape) for s in array.enumeratedShapes.shapes]
        for shape in shapes:
            if any(size <= 0 for size in shape):
                yield Problem(f"{feature.describe()}{model.where()} has shape {shape}",
                              feature.location)
                break
    for function in ctx.functions():
        for value in function.proto.inputs:
            dims = tensor_shape(value.type)
            if dims and any(size == 0 for size in dims):
                yield Problem(f"program input '{value.name}' of function '{function.name}'"
                              f"{function.model.where()} has a zero dimension {dims}",
                              function.loc(value.name))


def _bound(op_proto) -> list[str]:
    return [binding.name for argument in op_proto.inputs.values()
            for binding in argument.arguments if binding.WhichOneof("binding") == "name"]


def _scope_problems(function, block, visible: set[str], depth: int = 0):
    """(kind, message, location) for every read of a name not yet defined in ``block`` (or an
    enclosing scope), every name defined twice in one block, and every block output that
    names nothing visible. Block inputs are defined inside their block."""
    defined = set(visible)
    local: set[str] = set()
    for op_proto in block.operations:
        op = OpView(function, op_proto, depth)
        outputs = [output.name for output in op_proto.outputs]
        for name in _bound(op_proto):
            if name in defined:
                continue
            if name in outputs:
                yield "read", f"{op.describe()} consumes its own output '{name}'", op.location
            else:
                yield "read", f"{op.describe()} reads '{name}', which is not defined before it " \
                              "in its block or an enclosing one", op.location
        for nested in op_proto.blocks:
            inner = defined | {value.name for value in nested.inputs}
            yield from _scope_problems(function, nested, inner, depth + 1)
        for name in outputs:
            if name in local:
                yield "twice", f"{op.describe()} defines '{name}' a second time", op.location
            local.add(name)
            defined.add(name)
    for name in block.outputs:
        if name not in defined:
            place = "the function" if depth == 0 else "a nested block"
            yield "output", f"{place} of '{function.name}' returns '{name}', which nothing in " \
                            "scope produces", function.loc(name)


def _scope_findings(ctx, kinds: set[str]):
    def collect():
        out = []
        for function in ctx.functions():
            if function.block is None:
                continue
            inputs = {value.name for value in function.proto.inputs}
            block_inputs = {value.name for value in function.block.inputs}
            out += list(_scope_problems(function, function.block, inputs | block_inputs))
        return out

    for kind, message, location in ctx.memo("scope_problems", collect):
        if kind in kinds:
            yield Problem(message, location)


@rule("CML-O014", "undefined-variable", severity="error",
      summary="An op reads a value that is not defined before it (or its own output).",
      why="""A MIL program is in SSA form: every op input names a function input, an earlier
      op's output in the same block or an enclosing one, or an input of the enclosing
      control-flow block (cond, while_loop). Core ML's program parser rejects a read of an
      undefined name, including an op that consumes its own output (a cycle).""",
      fix="Re-convert; a hand edit renamed or removed the producer.",
      source=f"{_MIL_PROTO} Operation.inputs, Block.inputs (\"SSA\"); "
             "coremltools/converters/mil/mil/block.py validate")
def undefined_variable(ctx):
    yield from _scope_findings(ctx, {"read"})


@rule("CML-O015", "block-output-undefined", severity="error",
      summary="A function or nested block returns a value nothing in it produces.",
      why="""Block.outputs names values of the block (or an enclosing scope); a function's
      outputs are the model's outputs, a nested block's are the values cond / while_loop hand
      back. An output without a producer fails to load.""",
      fix="Re-convert; do not delete ops from a saved program by hand.",
      source=f"{_MIL_PROTO} Block.outputs")
def block_output_undefined(ctx):
    yield from _scope_findings(ctx, {"output"})


@rule("CML-O016", "no-main-function", severity="error",
      summary="A single-function ML program has no function named main.",
      why="""Without a multi-function description, Core ML runs the program's 'main'
      function; a program without it has no entry point.""",
      fix="Name the entry function main, or describe the functions (ct.utils.save_multifunction).",
      source=f"{_MIL_PROTO} Program.functions; coremltools/converters/mil/mil/program.py "
             "(\"main\" entry function)")
def no_main_function(ctx):
    for model in ctx.models:
        program = model.program
        if program is None or len(model.description.functions):
            continue
        names = [f.name for f in program.functions]
        if "main" not in names:
            yield Problem(f"the ML program{model.where()} has no function 'main' (functions: "
                          f"{names})", model.loc("main"))


def _element_count(tensor_value, dtype: str) -> int | None:
    kind = tensor_value.WhichOneof("value")
    if kind is None:
        return 0
    values = getattr(tensor_value, kind).values
    if kind == "bytes":
        bits = _BYTE_BITS.get(dtype)
        return None if bits is None else len(values) * 8 // bits
    return len(values)


@rule("CML-O017", "const-size-mismatch", severity="error",
      summary="A const's immediate value holds a different number of elements than its shape.",
      why="""An immediate tensor stores its elements in a typed list (floats, ints, bytes…);
      their count must be the product of the declared shape (1 for a scalar). A mismatch is a
      truncated or hand-edited file and is rejected when the program is parsed.""",
      fix="Re-save the model with coremltools.",
      source=f"{_MIL_PROTO} TensorValue, TensorType.dimensions")
def const_size_mismatch(ctx):
    for op in ctx.ops():
        if op.type != "const":
            continue
        value = op.attribute("val")
        if value is None or value.WhichOneof("value") != "immediateValue":
            continue
        dims = tensor_shape(value.type)
        if dims is None or None in dims or value.immediateValue.WhichOneof("value") != "tensor":
            continue
        expected = 1
        for size in dims:
            expected *= size
        dtype = tensor_dtype(value.type)
        count = _element_count(value.immediateValue.tensor, dtype)
        if count is None:
            continue
        packed = dtype in _BYTE_BITS and _BYTE_BITS[dtype] < 8
        if (count < expected or count - expected >= 8) if packed else count != expected:
            yield Problem(f"{op.describe()}{op.function.model.where()} holds {count} {dtype} "
                          f"values for shape {dims} ({expected} elements)", op.location)


@rule("CML-O018", "duplicate-variable", severity="error",
      summary="A function input or op output name is defined twice in one scope.",
      why="""Values are looked up by name; two function inputs with one name, or two ops of
      a block producing the same name, make the program ambiguous and Core ML rejects it.""",
      fix="Re-convert; rename hand-added inputs or ops.",
      source=f"{_MIL_PROTO} Function.inputs, NamedValueType.name (SSA)")
def duplicate_variable(ctx):
    for function in ctx.functions():
        seen: set[str] = set()
        for value in function.proto.inputs:
            if value.name in seen:
                yield Problem(f"function '{function.name}'{function.model.where()} has two "
                              f"inputs named '{value.name}'", function.loc(value.name))
            seen.add(value.name)
    yield from _scope_findings(ctx, {"twice"})


def _networks(model):
    network = model.neural_network
    return [] if network is None else [network]


def _blob_problems(network, available: set[str], depth: int = 0):
    """(layer, missing input) for every layer input no earlier layer or model input produced,
    descending into branch and loop layers (which see the enclosing blobs)."""
    if depth > 16:
        return
    for layer in network.layers:
        for name in layer.input:
            if name not in available:
                yield layer, name
        kind = layer.WhichOneof("layer")
        for field in _NESTED_NETWORKS.get(kind, ()):
            nested = getattr(getattr(layer, kind), field)
            yield from _blob_problems(nested, set(available), depth + 1)
            available.update(output for inner in nested.layers for output in inner.output)
        available.update(layer.output)


@rule("CML-N006", "undefined-blob", severity="error",
      summary="A NeuralNetwork layer consumes a blob that no input or earlier layer produces.",
      why="""Layers run in file order; each input must be a model input or the output of an
      earlier layer. Core ML rejects the model with "Layer ... consumes an input named ...
      which is not present in this network".""",
      fix="Re-convert, or fix the layer's input name after editing the spec.",
      source=f"{_NN_VALIDATOR} validateNeuralNetwork (\"not present in this network\")")
def undefined_blob(ctx):
    for model in ctx.models:
        for network in _networks(model):
            inputs = {feature.name for feature in model.description.input}
            for layer, name in _blob_problems(network, inputs):
                yield Problem(f"layer '{layer.name}'{model.where()} consumes '{name}', which no "
                              "model input or earlier layer produces", model.loc(f"layers/"
                                                                                  f"{layer.name}"))


@rule("CML-N007", "no-layers", severity="error",
      summary="A NeuralNetwork model has no layers.",
      why="""Every output of a NeuralNetwork must be produced by a layer; with no layers there
      is nothing to run and Core ML rejects the model.""",
      fix="Re-convert the model; an empty network is a failed or truncated export.",
      source=f"{_NN_VALIDATOR} (outputs must be produced by a layer)")
def no_layers(ctx):
    for model in ctx.models:
        for network in _networks(model):
            if not len(network.layers):
                yield Problem(f"the NeuralNetwork{model.where()} has no layers", model.loc())


@rule("CML-N008", "layer-type-unset", severity="error",
      summary="A NeuralNetwork layer has no layer type (its oneof is unset).",
      why="""A layer whose type field is empty was written by a newer or broken tool, or its
      parameters were lost; Core ML's validator rejects it as an unsupported layer type.""",
      fix="Re-convert, or update the tool that wrote the file.",
      source=f"{_NN_VALIDATOR} validateLayer (\"Unsupported layer type\")")
def layer_type_unset(ctx):
    for model in ctx.models:
        for network in _networks(model):
            for layer in _all_layers(network):
                if layer.WhichOneof("layer") is None:
                    yield Problem(f"layer '{layer.name}'{model.where()} has no layer type",
                                  model.loc(f"layers/{layer.name}"))


def _all_layers(network, depth: int = 0):
    for layer in network.layers:
        yield layer
        kind = layer.WhichOneof("layer")
        if depth < 16:
            for field in _NESTED_NETWORKS.get(kind, ()):
                yield from _all_layers(getattr(getattr(layer, kind), field), depth + 1)
