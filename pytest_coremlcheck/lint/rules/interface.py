"""CML-T: inputs, outputs and states — types, flexible shapes, optional values, functions."""

from __future__ import annotations

from .. import catalog
from ..rule import Problem, Requirement, rule
from ..spec import array_dtype_name, color_space_name, tensor_dtype, tensor_shape

_IFACE = "mlmodel/src/Validation/InterfaceValidators.cpp"
_VALID_ARRAY_DTYPES = {"FLOAT32", "DOUBLE", "INT32", "FLOAT16", "INT8"}


def _array_features(ctx):
    for model, feature in ctx.features():
        if feature.type_kind == "multiArrayType":
            yield model, feature, feature.proto.type.multiArrayType


def _image_features(ctx):
    for model, feature in ctx.features():
        if feature.type_kind == "imageType":
            yield model, feature, feature.proto.type.imageType


@rule("CML-T001", "fp16-multiarray-io", severity="error",
      min_target="iOS16 / macOS13 / tvOS16 / watchOS9 (spec 7)",
      summary="FLOAT16 MultiArray inputs or outputs need iOS16.",
      why="""MLMultiArray float16 features arrived with spec 7. coremltools makes inputs and
      outputs float16 by default for fp16 programs targeting iOS16+, so a model converted for
      iOS16 and shipped to an iOS15 app fails to load.""",
      fix="""For older targets declare the I/O as float32 (ct.TensorType(dtype=np.float32)) or
      convert with minimum_deployment_target below iOS16.""",
      source=f"{_IFACE}; coremltools/converters/_converters_entry.py (\"float16 dtype for "
             "inputs is only supported for deployment target >= iOS16/macOS13/watchOS9/tvOS16\")")
def fp16_multiarray_io(ctx):
    for model, feature, array in _array_features(ctx):
        if array_dtype_name(array.dataType) == "FLOAT16":
            yield Requirement(7, f"{feature.describe()}{model.where()} (FLOAT16 MultiArray)",
                              feature.location, model)


@rule("CML-T002", "grayscale-fp16-image", severity="error", min_target="iOS16 (spec 7)",
      summary="GRAYSCALE_FLOAT16 images need iOS16.",
      why="""The OneComponent16Half pixel format (colour space GRAYSCALE_FLOAT16) was added with
      spec 7.""",
      fix="Use GRAYSCALE (8-bit) images for older targets.",
      source=f"{_IFACE}; docs-guides/source/image-inputs.md")
def grayscale_fp16_image(ctx):
    for model, feature, image in _image_features(ctx):
        if color_space_name(image.colorSpace) == "GRAYSCALE_FLOAT16":
            yield Requirement(7, f"{feature.describe()}{model.where()} (GRAYSCALE_FLOAT16 "
                                 "image)", feature.location, model)


@rule("CML-T003", "int8-multiarray-io", severity="error",
      min_target="iOS26 / macOS26 / visionOS26 (spec 10)",
      summary="INT8 MultiArray inputs or outputs need iOS26.",
      why="""MLMultiArrayDataType.int8 exists from iOS/macOS/visionOS 26 (spec 10); older
      releases reject the feature type.""",
      fix="Use INT32 or FLOAT16/FLOAT32 I/O for older targets.",
      source=f"{_IFACE}; mlmodel/src/Utils.cpp hasIOS26Features; coremltools input_types.py "
             "(\"A dtype of int8 will only work with a minimum_deployment_target iOS26\")")
def int8_multiarray_io(ctx):
    for model, feature, array in _array_features(ctx):
        if array_dtype_name(array.dataType) == "INT8":
            yield Requirement(10, f"{feature.describe()}{model.where()} (INT8 MultiArray)",
                              feature.location, model)


@rule("CML-T004", "grayscale-uint8-program-input", severity="error", min_target="iOS17 (spec 8)",
      summary="A grayscale image fed to the program as uint8 needs iOS17.",
      why="""ImageType(grayscale_use_uint8=True) makes the program input a uint8 tensor; ML
      programs accept 8-bit integer tensors only from opset CoreML7.""",
      fix="Drop grayscale_use_uint8 for older targets.",
      source="coremltools/converters/mil/input_types.py ImageType (grayscale_use_uint8 "
             "\"requires a minimum_deployment_target of iOS17\")")
def grayscale_uint8_program_input(ctx):
    for model in ctx.models:
        program = model.program
        if program is None:
            continue
        functions = {f.name: f for f in program.functions}
        for feature in model.features:
            if feature.kind != "input" or feature.type_kind != "imageType":
                continue
            if color_space_name(feature.proto.type.imageType.colorSpace) != "GRAYSCALE":
                continue
            function = functions.get(feature.function or _default_function(model))
            if function is None:
                continue
            for value in function.proto.inputs:
                if value.name == feature.name and tensor_dtype(value.type) == "UINT8":
                    yield Requirement(8, f"{feature.describe()}{model.where()} (grayscale "
                                         "image as uint8 tensor)", feature.location, model)


def _default_function(model) -> str:
    return model.description.defaultFunctionName or "main"


@rule("CML-T005", "multiarray-dtype-invalid", severity="error",
      summary="A MultiArray feature has no valid dataType.",
      why="""Core ML accepts DOUBLE, FLOAT32, FLOAT16, INT32 and INT8 arrays; an unset or
      unknown dataType fails validation ("invalid or unspecified dataType").""",
      fix="Set multiArrayType.dataType.",
      source=_IFACE)
def multiarray_dtype_invalid(ctx):
    for model, feature, array in _array_features(ctx):
        name = array_dtype_name(array.dataType)
        if name not in _VALID_ARRAY_DTYPES:
            yield Problem(f"{feature.describe()}{model.where()} has MultiArray dataType {name}",
                          feature.location)


def _state_features(model):
    return [f for f in model.features if f.kind == "state" or f.type_kind == "stateType"]


@rule("CML-T006", "stateful-model", severity="error",
      min_target="iOS18 / macOS15 / visionOS2 (spec 9)",
      supersedes=("CML-O001",),
      summary="States (stateful models, read_state/write_state) need iOS18.",
      why="""Model states (e.g. a KV cache kept between predictions) were added with spec 9 and
      are available to ML programs only.""",
      fix="""Keep the state as an explicit input/output pair for older targets, or raise the
      target to iOS18.""",
      source=f"{_IFACE} (\"State types are only valid in specification verison >= 9\"); "
             "docs-guides/source/stateful-models.md; mlmodel/src/Model.cpp "
             "modelTypeAllowsStatefulPrediction")
def stateful_model(ctx):
    for model in ctx.models:
        states = _state_features(model)
        for feature in states:
            yield Requirement(9, f"state '{feature.name}'{model.where()}", feature.location,
                              model)
        if states and model.type != "mlProgram":
            yield Problem(f"states are only valid in ML programs, not {model.type}"
                          f"{model.where()}", model.loc())
    for op in ctx.ops():
        if op.type in ("read_state", "write_state"):
            yield Requirement(9, f"{op.describe()}", op.location, op.function.model)


@rule("CML-T007", "state-invalid", severity="error", min_target="iOS18",
      summary="A state feature is optional, unshaped, flexible, defaulted or not FLOAT16.",
      why="""Core ML requires a state to be a non-optional array with a fixed, non-negative
      shape, no default value and dtype FLOAT16 (the validator also takes INT8; coremltools
      writes only FLOAT16).""",
      fix="Declare the state with ct.StateType(wrapped_type=ct.TensorType(shape=..., "
          "dtype=np.float16)).",
      source=f"{_IFACE} kStateType branch; coremltools/converters/mil/backend/mil/load.py "
             "(\"State only support fp16 dtype\")")
def state_invalid(ctx):
    for model in ctx.models:
        for feature in _state_features(model):
            where = f"state '{feature.name}'{model.where()}"
            if feature.type_kind != "stateType":
                yield Problem(f"{where} is declared as {feature.type_kind}, not stateType",
                              feature.location)
                continue
            if feature.kind != "state":
                yield Problem(f"{feature.describe()}{model.where()} has a state type; states "
                              "belong in description.state", feature.location)
            if feature.proto.type.isOptional:
                yield Problem(f"{where} is optional", feature.location)
            state = feature.proto.type.stateType
            if state.WhichOneof("Type") != "arrayType":
                yield Problem(f"{where} has no array type", feature.location)
                continue
            array = state.arrayType
            if not len(array.shape):
                yield Problem(f"{where} has no shape", feature.location)
            elif any(d < 0 for d in array.shape):
                yield Problem(f"{where} has a negative dimension {list(array.shape)}",
                              feature.location)
            if array.WhichOneof("ShapeFlexibility"):
                yield Problem(f"{where} has a flexible shape", feature.location)
            if array.WhichOneof("defaultOptionalValue"):
                yield Problem(f"{where} has a default value", feature.location)
            dtype = array_dtype_name(array.dataType)
            if dtype not in ("FLOAT16", "INT8"):
                yield Problem(f"{where} has dtype {dtype}; states must be FLOAT16",
                              feature.location)


@rule("CML-T008", "multifunction-model", severity="error",
      min_target="iOS18 / macOS15 / visionOS2 (spec 9)",
      summary="Multi-function models need iOS18 and must be ML programs.",
      why="""Several functions in one model (e.g. adapters sharing weights) were added with
      spec 9; only ML programs may have them.""",
      fix="Ship one model per function for older targets.",
      source=f"{_IFACE} validateMultiFunctionDescription; docs-guides/source/"
             "multifunction-models.md; backend/mil/load.py (\"minimum_deployment_target for "
             "multi-functions export should be iOS18+\")")
def multifunction_model(ctx):
    for model in ctx.models:
        description = model.description
        if len(description.functions) or description.defaultFunctionName:
            count = len(description.functions)
            yield Requirement(9, f"multi-function description ({count} functions)"
                                 f"{model.where()}", model.loc("functions"), model)
            if model.type != "mlProgram":
                yield Problem(f"{model.type}{model.where()} cannot have multiple functions; "
                              "only ML programs can", model.loc("functions"))


@rule("CML-T009", "multifunction-malformed", severity="error", min_target="iOS18",
      summary="A multi-function description is inconsistent.",
      why="""With functions, the default function must be one of them, the top-level
      input/output/state/predicted*/trainingInput lists must be empty, and each described
      function must exist in the program (and vice versa).""",
      fix="Build multi-function models with ct.utils.save_multifunction.",
      source=f"{_IFACE} validateModelLevelFeatureDescriptionsAreEmpty, "
             "validateMultiFunctionDescription")
def multifunction_malformed(ctx):
    for model in ctx.models:
        description = model.description
        names = [f.name for f in description.functions]
        if not names:
            if description.defaultFunctionName and model.type == "mlProgram":
                yield Problem(f"defaultFunctionName '{description.defaultFunctionName}' is set "
                              f"but no functions are described{model.where()}",
                              model.loc("functions"))
            continue
        if description.defaultFunctionName not in names:
            yield Problem(f"defaultFunctionName '{description.defaultFunctionName}' is not one "
                          f"of the functions {names}{model.where()}", model.loc("functions"))
        for field in ("input", "output", "state", "trainingInput"):
            if len(getattr(description, field)):
                yield Problem(f"top-level {field} list must be empty in a multi-function "
                              f"model{model.where()}", model.loc(field))
        for field in ("predictedFeatureName", "predictedProbabilitiesName"):
            if getattr(description, field):
                yield Problem(f"top-level {field} must be empty in a multi-function "
                              f"model{model.where()}", model.loc(field))
        if len(set(names)) != len(names):
            yield Problem(f"duplicate function names {names}{model.where()}",
                          model.loc("functions"))
        if model.type == "mlProgram":
            program_names = set(model.spec.mlProgram.functions.keys())
            for name in sorted(set(names) - program_names):
                yield Problem(f"function '{name}' is described but not in the program"
                              f"{model.where()}", model.loc(f"functions/{name}"))
            for name in sorted(program_names - set(names)):
                yield Problem(f"program function '{name}' has no description{model.where()}",
                              model.loc(f"functions/{name}"))


@rule("CML-T010", "no-inputs", severity="error", min_target="iOS18 (spec 9)",
      summary="A model or function without inputs needs iOS18.",
      why="""Models with an empty input list (e.g. a generator driven by its state) are valid
      from spec 9, and only for NeuralNetwork, pipeline and ML program types.""",
      fix="Add an input, or raise the target to iOS18.",
      source="mlmodel/src/Validation/Validators.hpp (\"Empty input is only valid in "
             "specification verison >= 9\"); mlmodel/src/Utils.cpp hasEmptyInput; "
             "apple/coremltools PR #2684")
def no_inputs(ctx):
    for model in ctx.models:
        for function, inputs, _outputs, _states in model.interface_sets():
            if inputs:
                continue
            what = f"function '{function}'" if function else "model"
            location = model.loc(f"functions/{function}" if function else "input")
            yield Requirement(9, f"{what}{model.where()} with no inputs", location, model)
            if model.type not in catalog.EMPTY_INPUT_TYPES:
                yield Problem(f"{model.type}{model.where()} must have at least one input",
                              location)


@rule("CML-T011", "no-outputs", severity="error",
      summary="A model or function has no outputs.",
      why="Core ML requires at least one output (\"Models must have one or more outputs\").",
      fix="Declare the model's outputs.",
      source="mlmodel/src/Validation/Validators.hpp validateFeatureDescriptions")
def no_outputs(ctx):
    for model in ctx.models:
        for function, _inputs, outputs, _states in model.interface_sets():
            if not outputs:
                what = f"function '{function}'" if function else "the model"
                location = model.loc(f"functions/{function}" if function else "output")
                yield Problem(f"{what}{model.where()} has no outputs", location)


def _flexibility(feature) -> str | None:
    if feature.type_kind == "multiArrayType":
        return feature.proto.type.multiArrayType.WhichOneof("ShapeFlexibility")
    if feature.type_kind == "imageType":
        return feature.proto.type.imageType.WhichOneof("SizeFlexibility")
    return None


@rule("CML-T012", "flexible-shapes", severity="error", min_target="iOS12 (spec 3)",
      summary="Flexible input shapes or image sizes need iOS12.",
      why="""Enumerated and ranged shapes/sizes were added with spec 3. Core ML's validator
      reads them only in files declaring spec 3 or newer; a spec-1 or spec-2 file that carries
      them (Create ML writes such image classifiers) loads with its default size, so its
      declared version is no CML-V004.""",
      fix="Use fixed shapes for iOS11 targets.",
      source="coremltools _MINIMUM_FLEXIBLE_SHAPES_SPEC_VERSION; mlmodel/src/Utils.cpp "
             "hasFlexibleShapes; mlmodel/src/Validation/InterfaceValidators.cpp "
             "validateFeatureDescription (modelVersion >= MLMODEL_SPECIFICATION_VERSION_IOS12)")
def flexible_shapes(ctx):
    for model, feature in ctx.features():
        kind = _flexibility(feature)
        if kind:
            yield Requirement(3, f"{feature.describe()}{model.where()} ({kind})",
                              feature.location, model, checked_from=3)


def _enumerated_inputs(model):
    out = []
    for feature in model.features:
        if feature.kind == "input" and _flexibility(feature) in ("enumeratedShapes",
                                                                  "enumeratedSizes"):
            out.append(feature)
    return out


def _enumerated_count(feature) -> int:
    if feature.type_kind == "multiArrayType":
        return len(feature.proto.type.multiArrayType.enumeratedShapes.shapes)
    return len(feature.proto.type.imageType.enumeratedSizes.sizes)


@rule("CML-T013", "several-enumerated-inputs", severity="error", min_target="iOS18 (spec 9)",
      summary="More than one input with enumerated shapes in an ML program needs iOS18.",
      why="""Before iOS18 only one input of an ML program may use EnumeratedShapes;
      coremltools refuses the conversion for older targets.""",
      fix="Use a range for the other inputs, or raise the target to iOS18.",
      source="coremltools/converters/_converters_entry.py _validate_enumerated_shape_inputs; "
             "docs-guides/source/flexible-inputs.md")
def several_enumerated_inputs(ctx):
    for model in ctx.models:
        if model.type != "mlProgram":
            continue
        by_function: dict = {}
        for feature in _enumerated_inputs(model):
            by_function.setdefault(feature.function, []).append(feature)
        for features in by_function.values():
            if len(features) > 1:
                names = ", ".join(f"'{f.name}'" for f in features)
                yield Requirement(9, f"{len(features)} inputs with enumerated shapes ({names})"
                                     f"{model.where()}", features[1].location, model)


@rule("CML-T014", "enumerated-counts-differ", severity="error", min_target="iOS18",
      summary="Enumerated-shape inputs list different numbers of shapes.",
      why="""When several inputs use EnumeratedShapes (iOS18+), the n-th shapes of all inputs
      form one configuration, so every input must list the same number of shapes.""",
      fix="Give every enumerated input the same number of shapes, in matching order.",
      source="coremltools/converters/_converters_entry.py _validate_enumerated_shape_inputs "
             "(\"must have the same number of shapes\")")
def enumerated_counts_differ(ctx):
    for model in ctx.models:
        if model.type != "mlProgram":
            continue
        by_function: dict = {}
        for feature in _enumerated_inputs(model):
            by_function.setdefault(feature.function, []).append(feature)
        for features in by_function.values():
            counts = {f.name: _enumerated_count(f) for f in features}
            if len(set(counts.values())) > 1:
                yield Problem(f"enumerated inputs{model.where()} list different numbers of "
                              f"shapes: {counts}", features[0].location)


@rule("CML-T015", "flexible-shape-invalid", severity="error", min_target="iOS12",
      summary="An enumerated or ranged shape/size is malformed.",
      why="""Core ML rejects an empty enumeration, rank-0 shapes, a default shape or size that
      is not one of the enumerated ones or outside the range, a range whose lower bound
      exceeds its upper bound, or a range whose rank differs from the default shape.""",
      fix="Rebuild the flexible shape with ct.EnumeratedShapes / ct.RangeDim.",
      source=f"{_IFACE} kEnumeratedShapes/kShapeRange/kImageSizeRange branches")
def flexible_shape_invalid(ctx):
    for model, feature in ctx.features():
        where = f"{feature.describe()}{model.where()}"
        if feature.type_kind == "multiArrayType":
            yield from _array_flex_problems(feature, where)
        elif feature.type_kind == "imageType":
            yield from _image_flex_problems(feature, where)


def _array_flex_problems(feature, where):
    array = feature.proto.type.multiArrayType
    default = list(array.shape)
    kind = array.WhichOneof("ShapeFlexibility")
    if kind == "enumeratedShapes":
        shapes = [list(s.shape) for s in array.enumeratedShapes.shapes]
        if not shapes:
            yield Problem(f"{where} has an empty list of enumerated shapes", feature.location)
        elif any(not s for s in shapes):
            yield Problem(f"{where} enumerates a rank-0 shape", feature.location)
        elif default and default not in shapes:
            yield Problem(f"{where}: default shape {default} is not among the enumerated "
                          f"shapes", feature.location)
    elif kind == "shapeRange":
        ranges = [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges]
        if default and len(ranges) != len(default):
            yield Problem(f"{where}: shape range has rank {len(ranges)} but the default shape "
                          f"{default} has rank {len(default)}", feature.location)
        for axis, (low, high) in enumerate(ranges):
            if high >= 0 and low > high:
                yield Problem(f"{where}: range of dimension {axis} is {low}..{high} (lower "
                              "bound above upper bound)", feature.location)
            elif default and axis < len(default) and not _inside(default[axis], low, high):
                yield Problem(f"{where}: default size {default[axis]} of dimension {axis} is "
                              f"outside {low}..{_bound(high)}", feature.location)


def _image_flex_problems(feature, where):
    image = feature.proto.type.imageType
    kind = image.WhichOneof("SizeFlexibility")
    size = (image.width, image.height)
    if kind == "enumeratedSizes":
        sizes = [(s.width, s.height) for s in image.enumeratedSizes.sizes]
        if not sizes:
            yield Problem(f"{where} has an empty list of enumerated sizes", feature.location)
        elif size not in sizes:
            yield Problem(f"{where}: default size {size[0]}x{size[1]} is not among the "
                          "enumerated sizes", feature.location)
    elif kind == "imageSizeRange":
        for label, value, size_range in (("width", image.width, image.imageSizeRange.widthRange),
                                         ("height", image.height,
                                          image.imageSizeRange.heightRange)):
            low, high = size_range.lowerBound, size_range.upperBound
            if high >= 0 and low > high:
                yield Problem(f"{where}: {label} range {low}..{high} has its lower bound above "
                              "its upper bound", feature.location)
            elif not _inside(value, low, high):
                yield Problem(f"{where}: default {label} {value} is outside "
                              f"{low}..{_bound(high)}", feature.location)


def _inside(value: int, low: int, high: int) -> bool:
    return value >= low and (high < 0 or value <= high)


def _bound(high: int) -> str:
    return "unbounded" if high < 0 else str(high)


@rule("CML-T016", "unbounded-program-input", severity="error", min_target="iOS15",
      summary="An ML program input has an unbounded shape or size range.",
      why="""ML programs need a finite upper bound for every ranged dimension (coremltools:
      "For mlprogram, inputs with infinite upper_bound is not allowed"); the runtime plans
      memory from the bounds.""",
      fix="Give every ct.RangeDim an upper_bound.",
      source="coremltools/converters/_converters_entry.py; docs-guides/source/"
             "flexible-inputs.md")
def unbounded_program_input(ctx):
    for model, feature in ctx.features():
        if model.type != "mlProgram" or feature.kind != "input":
            continue
        kind = _flexibility(feature)
        if kind == "shapeRange":
            ranges = feature.proto.type.multiArrayType.shapeRange.sizeRanges
            axes = [i for i, r in enumerate(ranges) if r.upperBound < 0]
            if axes:
                yield Problem(f"{feature.describe()}{model.where()} has unbounded dimension(s) "
                              f"{axes}", feature.location)
        elif kind == "imageSizeRange":
            size_range = feature.proto.type.imageType.imageSizeRange
            if size_range.widthRange.upperBound < 0 or size_range.heightRange.upperBound < 0:
                yield Problem(f"{feature.describe()}{model.where()} has an unbounded image "
                              "size range", feature.location)


@rule("CML-T017", "too-many-enumerated-shapes", severity="warning",
      summary="More than 128 enumerated shapes.",
      why="Core ML documents a limit of 128 enumerated shapes per input.",
      fix="Use fewer shapes, or a range.",
      source="docs-guides/source/faqs.md; docs-guides/source/flexible-inputs.md")
def too_many_enumerated_shapes(ctx):
    for model, feature in ctx.features():
        if _flexibility(feature) in ("enumeratedShapes", "enumeratedSizes"):
            count = _enumerated_count(feature)
            if count > 128:
                yield Problem(f"{feature.describe()}{model.where()} enumerates {count} shapes "
                              "(limit 128)", feature.location)


@rule("CML-T018", "nd-shape-mapping", severity="error", min_target="iOS13 (spec 4)",
      summary="A NeuralNetwork with N-d (non rank-5) input shape mapping needs iOS13.",
      why="""EXACT_ARRAY_MAPPING and RANK4_IMAGE_MAPPING, used by every NeuralNetwork that
      coremltools converts for iOS13+, were added with spec 4.""",
      fix="Convert with minimum_deployment_target=iOS12 or older for rank-5 mapping.",
      source="mlmodel/format/NeuralNetwork.proto; mlmodel/src/Utils.cpp "
             "hasIOS13NeuralNetworkFeatures")
def nd_shape_mapping(ctx):
    for model in ctx.models:
        network = model.neural_network
        if network is None:
            continue
        if network.arrayInputShapeMapping != 0:
            yield Requirement(4, f"NeuralNetwork array shape mapping EXACT_ARRAY_MAPPING"
                                 f"{model.where()}", model.loc("arrayInputShapeMapping"), model)
        if network.imageInputShapeMapping != 0:
            yield Requirement(4, f"NeuralNetwork image shape mapping RANK4_IMAGE_MAPPING"
                                 f"{model.where()}", model.loc("imageInputShapeMapping"), model)


@rule("CML-T019", "rank5-input-rank", severity="error",
      summary="A rank-5-mapped NeuralNetwork has a MultiArray input that is not rank 1 or 3.",
      why="""With the legacy rank-5 mapping, Core ML only accepts vectors (C) and image-like
      arrays (C, H, W) as NeuralNetwork inputs.""",
      fix="Reshape the input to rank 1 or 3, or use the N-d mapping (iOS13+).",
      source="mlmodel/src/NeuralNetwork/NeuralNetworkValidator.cpp (\"Input MLMultiArray to "
             "neural networks must have dimension 1 (vector) or 3 (image-like arrays).\")")
def rank5_input_rank(ctx):
    for model in ctx.models:
        network = model.neural_network
        if network is None or network.arrayInputShapeMapping != 0:
            continue
        for feature in model.features:
            if feature.kind == "input" and feature.type_kind == "multiArrayType":
                shape = list(feature.proto.type.multiArrayType.shape)
                if shape and len(shape) not in (1, 3):
                    yield Problem(f"{feature.describe()}{model.where()} has rank {len(shape)} "
                                  f"{shape}; rank-5 mapping takes rank 1 or 3", feature.location)


@rule("CML-T020", "optional-default-value", severity="error", min_target="iOS14 (spec 5)",
      summary="Optional inputs with a default value need iOS14.",
      why="""Default values for optional MultiArray inputs were added with spec 5, and only
      NeuralNetwork, ML program and SerializedModel types may use them.""",
      fix="Drop the default value for older targets (the input then defaults to zeros).",
      source=f"{_IFACE} validateDefaultOptionalValues; coremltools "
             "_deployment_compatibility.iOS14Features")
def optional_default_value(ctx):
    for model, feature, array in _array_features(ctx):
        if feature.kind == "input" and array.WhichOneof("defaultOptionalValue"):
            yield Requirement(5, f"default value of {feature.describe()}{model.where()}",
                              feature.location, model)
            if model.type not in catalog.DEFAULT_VALUE_TYPES:
                yield Problem(f"{model.type}{model.where()} cannot give inputs default values",
                              feature.location)


@rule("CML-T021", "default-value-type", severity="error",
      summary="A default value does not match the MultiArray dtype.",
      why="""floatDefaultValue goes with FLOAT32/FLOAT16 arrays, doubleDefaultValue with
      DOUBLE, intDefaultValue with INT32/INT8 (and must fit −128…127 for INT8).""",
      fix="Use the default-value field that matches dataType.",
      source=f"{_IFACE} defaultOptionalValue switch")
def default_value_type(ctx):
    allowed = {"floatDefaultValue": ("FLOAT32", "FLOAT16"), "doubleDefaultValue": ("DOUBLE",),
               "intDefaultValue": ("INT32", "INT8")}
    for model, feature, array in _array_features(ctx):
        kind = array.WhichOneof("defaultOptionalValue")
        if not kind:
            continue
        dtype = array_dtype_name(array.dataType)
        if dtype not in allowed[kind]:
            yield Problem(f"{feature.describe()}{model.where()}: {kind} on a {dtype} array",
                          feature.location)
        elif dtype == "INT8" and not -128 <= array.intDefaultValue <= 127:
            yield Problem(f"{feature.describe()}{model.where()}: default {array.intDefaultValue} "
                          "does not fit INT8", feature.location)


@rule("CML-T022", "optional-io-invalid", severity="error",
      summary="Every input is optional, or an output is optional.",
      why="""NeuralNetwork and ML program models need at least one required input, and no
      output may be optional.""",
      fix="Make at least one input required and every output non-optional.",
      source=f"{_IFACE} validateOptionalNN, validateOptionalOutputs")
def optional_io_invalid(ctx):
    for model in ctx.models:
        for function, inputs, outputs, _states in model.interface_sets():
            where = (f" of function '{function}'" if function else "") + model.where()
            if (model.type in catalog.NN_TYPES | {"mlProgram"} and inputs
                    and all(i.type.isOptional for i in inputs)):
                yield Problem(f"every input{where} is optional", model.loc("input"))
            for output in outputs:
                if output.type.isOptional:
                    yield Problem(f"output '{output.name}'{where} is optional",
                                  model.loc(f"output/{output.name}"))


@rule("CML-T023", "sequence-features", severity="error", min_target="iOS12 (spec 3)",
      summary="Sequence (categorical) features need iOS12.",
      why="Sequence feature types (of int64 or string) were added with spec 3.",
      fix="Use MultiArray features for iOS11 targets.",
      source=_IFACE)
def sequence_features(ctx):
    for model, feature in ctx.features():
        if feature.type_kind == "sequenceType":
            yield Requirement(3, f"{feature.describe()}{model.where()} (sequence)",
                              feature.location, model)


@rule("CML-T024", "image-shape-invalid", severity="error",
      summary="An image feature's size, colour space or program tensor is inconsistent.",
      why="""Image features need a positive width and height (unless flexible) and a colour
      space. In an ML program the function input behind an image must be a rank-4 (1, C, H, W)
      tensor with C = 3 for RGB/BGR and C = 1 for grayscale.""",
      fix="Re-convert with ct.ImageType(shape=(1, C, H, W), color_layout=...).",
      source=f"{_IFACE}; coremltools/converters/mil/backend/backend_helper.py "
             "_validate_image_input_output_shapes")
def image_shape_invalid(ctx):
    for model, feature, image in _image_features(ctx):
        where = f"{feature.describe()}{model.where()}"
        space = color_space_name(image.colorSpace)
        if space not in ("GRAYSCALE", "RGB", "BGR", "GRAYSCALE_FLOAT16"):
            yield Problem(f"{where} has colour space {space}", feature.location)
        if not image.WhichOneof("SizeFlexibility") and (image.width <= 0 or image.height <= 0):
            yield Problem(f"{where} has size {image.width}x{image.height}", feature.location)
        if model.program is None or feature.kind != "input":
            continue
        channels = 1 if space.startswith("GRAYSCALE") else 3
        function = next((f for f in model.program.functions
                         if f.name == (feature.function or _default_function(model))), None)
        if function is None:
            continue
        value = next((v for v in function.proto.inputs if v.name == feature.name), None)
        shape = tensor_shape(value.type) if value is not None else None
        if shape is None:
            continue
        if len(shape) != 4 or shape[0] not in (1, None) or shape[1] not in (channels, None):
            yield Problem(f"{where} ({space}) is a program tensor of shape {shape}; expected "
                          f"(1, {channels}, H, W)", feature.location)
