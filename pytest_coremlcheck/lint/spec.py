"""Read-only views over a ``Model`` protobuf: sub-models of pipelines, interface features, and
the functions, ops and values of an ML program. Built once per lint and shared by the rules.

Locations (``Finding.location``) are built here: ``input/x``, ``functions/f/input/x``,
``main/var_12`` (op ``var_12`` of function ``main``), prefixed with ``pipeline/<i>/`` for a
pipeline's sub-model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..coreml.describe import pipeline_of
from ..coreml.enums import ARRAY_DATA_TYPES, COLOR_SPACES, MIL_DATA_TYPES
from . import catalog
from .targets import spec_of_opset

#: How deep pipelines may nest before the linter stops descending (protobuf allows ~100).
MAX_PIPELINE_DEPTH = 32

#: MIL ``DataType`` name → coremltools builtin type name (as in the op registry).
MIL_DTYPE_SHORT = {"BOOL": "bool", "STRING": "string", "FLOAT16": "fp16", "FLOAT32": "fp32",
                   "FLOAT64": "fp64", "BFLOAT16": "bf16", "INT4": "int4", "INT8": "int8",
                   "INT16": "int16", "INT32": "int32", "INT64": "int64", "UINT1": "uint1",
                   "UINT2": "uint2", "UINT3": "uint3", "UINT4": "uint4", "UINT6": "uint6",
                   "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64"}
FLOAT_DTYPES = frozenset({"FLOAT16", "FLOAT32", "FLOAT64", "BFLOAT16"})


def array_dtype_name(number: int) -> str:
    """``ArrayFeatureType.ArrayDataType`` number → name (``INVALID`` for unknown)."""
    return ARRAY_DATA_TYPES.get(number, "INVALID" if number == 0 else f"unknown ({number})")


def color_space_name(number: int) -> str:
    return COLOR_SPACES.get(number, "INVALID_COLOR_SPACE" if number == 0 else f"unknown "
                                                                                f"({number})")


def mil_dtype_name(number: int) -> str:
    return MIL_DATA_TYPES.get(number, f"unknown ({number})")


def tensor_dtype(value_type) -> str | None:
    """The element dtype name of a ``ValueType`` holding a tensor, else None."""
    if value_type.WhichOneof("type") != "tensorType":
        return None
    return mil_dtype_name(value_type.tensorType.dataType)


def tensor_shape(value_type) -> list[int | None] | None:
    """Dimensions of a tensor ``ValueType`` (None for unknown dims), or None if not a tensor."""
    if value_type.WhichOneof("type") != "tensorType":
        return None
    dims: list[int | None] = []
    for dim in value_type.tensorType.dimensions:
        dims.append(dim.constant.size if dim.WhichOneof("dimension") == "constant" else None)
    return dims


@dataclass
class FeatureView:
    """An input, output or state of the model or of one of its functions, with its location
    (what it declares is read by ``coreml.features``)."""

    kind: str  # "input" | "output" | "state"
    proto: object  # FeatureDescription
    function: str | None
    location: str

    @property
    def name(self) -> str:
        return self.proto.name

    @property
    def type_kind(self) -> str | None:
        """``multiArrayType``, ``imageType``, ``stateType``, ``sequenceType``, … or None."""
        return self.proto.type.WhichOneof("Type")

    def describe(self) -> str:
        where = f" of function '{self.function}'" if self.function else ""
        return f"{self.kind} '{self.name}'{where}"


class ModelView:
    """One ``Model`` message: the file's top level, or a sub-model of a pipeline."""

    def __init__(self, spec, prefix: str = "", label: str = "", depth: int = 0):
        self.spec = spec
        self.prefix = prefix
        self.label = label
        self.depth = depth

    @property
    def type(self) -> str | None:
        return self.spec.WhichOneof("Type")

    @property
    def declared(self) -> int:
        return self.spec.specificationVersion

    @property
    def description(self):
        return self.spec.description

    def loc(self, suffix: str = "") -> str:
        return f"{self.prefix}{suffix}" if suffix else self.prefix.rstrip("/")

    def where(self) -> str:
        """`` in pipeline model 1 ('name')`` for sub-models, empty for the top level."""
        return f" in {self.label}" if self.label else ""

    @cached_property
    def features(self) -> list[FeatureView]:
        """Every input, output and state, top-level and per function."""
        out: list[FeatureView] = []
        description = self.description
        for kind, items in (("input", description.input), ("output", description.output),
                            ("state", description.state)):
            for feature in items:
                out.append(FeatureView(kind, feature, None, self.loc(f"{kind}/{feature.name}")))
        for function in description.functions:
            for kind, items in (("input", function.input), ("output", function.output),
                                ("state", function.state)):
                for feature in items:
                    location = self.loc(f"functions/{function.name}/{kind}/{feature.name}")
                    out.append(FeatureView(kind, feature, function.name, location))
        return out

    def interface_sets(self) -> list[tuple[str | None, list, list, list]]:
        """(function name or None, inputs, outputs, states) per interface the model declares:
        each function of a multi-function model, else the top-level description."""
        description = self.description
        if len(description.functions):
            return [(f.name, list(f.input), list(f.output), list(f.state))
                    for f in description.functions]
        return [(None, list(description.input), list(description.output),
                 list(description.state))]

    @cached_property
    def neural_network(self):
        """The ``NeuralNetwork*`` message of an NN model, else None."""
        if self.type in catalog.NN_TYPES:
            return getattr(self.spec, self.type)
        return None

    @cached_property
    def program(self) -> ProgramView | None:
        return ProgramView(self) if self.type == "mlProgram" else None

    @cached_property
    def submodels(self) -> list[ModelView]:
        """Direct sub-models when this is a pipeline."""
        if self.type not in catalog.PIPELINE_TYPES or self.depth >= MAX_PIPELINE_DEPTH:
            return []
        pipeline = pipeline_of(self.spec)
        names = list(pipeline.names)
        out = []
        for index, model in enumerate(pipeline.models):
            name = names[index] if index < len(names) else ""
            label = f"pipeline model {index}" + (f" ('{name}')" if name else "")
            if self.label:
                label = f"{label} of {self.label}"
            out.append(ModelView(model, f"{self.prefix}pipeline/{index}/", label, self.depth + 1))
        return out


def walk_models(top: ModelView) -> list[ModelView]:
    """``top`` and every pipeline sub-model below it, depth first."""
    out = [top]
    for child in top.submodels:
        out.extend(walk_models(child))
    return out


class ProgramView:
    """The functions of an ML program."""

    def __init__(self, model: ModelView):
        self.model = model
        self.proto = model.spec.mlProgram
        self.functions = [FunctionView(self, name, function)
                          for name, function in sorted(self.proto.functions.items())]

    def ops(self):
        for function in self.functions:
            yield from function.ops


class FunctionView:
    """One function: its opset, the block for that opset, and indexes over its values."""

    def __init__(self, program: ProgramView, name: str, proto):
        self.program = program
        self.model = program.model
        self.name = name
        self.proto = proto
        self.opset = proto.opset
        self.opset_spec = spec_of_opset(proto.opset)
        self.block = proto.block_specializations[proto.opset] if (
            proto.opset in proto.block_specializations) else None

    def loc(self, suffix: str) -> str:
        return self.model.loc(f"{self.name}/{suffix}")

    @cached_property
    def ops(self) -> list[OpView]:
        """All ops of the function's block, nested blocks included, in program order."""
        out: list[OpView] = []
        if self.block is not None:
            self._collect(self.block, out, 0)
        return out

    def _collect(self, block, out: list[OpView], depth: int) -> None:
        if depth > 64:
            return
        for op in block.operations:
            view = OpView(self, op, depth)
            out.append(view)
            for nested in op.blocks:
                self._collect(nested, out, depth + 1)

    @cached_property
    def var_types(self) -> dict[str, object]:
        """Var name → ``ValueType`` for function inputs, op outputs and nested block inputs."""
        types = {value.name: value.type for value in self.proto.inputs}
        for op in self.ops:
            for output in op.proto.outputs:
                types[output.name] = output.type
            for nested in op.proto.blocks:
                for value in nested.inputs:
                    types[value.name] = value.type
        return types

    @cached_property
    def producers(self) -> dict[str, OpView]:
        out: dict[str, OpView] = {}
        for op in self.ops:
            for output in op.proto.outputs:
                out[output.name] = op
        return out

    @cached_property
    def consumers(self) -> dict[str, list[tuple[OpView, str]]]:
        """Var name → [(op, input key)] of ops reading it."""
        out: dict[str, list[tuple[OpView, str]]] = {}
        for op in self.ops:
            for key, names in op.bound_names.items():
                for name in names:
                    out.setdefault(name, []).append((op, key))
        return out

    def const_value(self, var_name: str):
        """The ``Value`` of ``var_name`` when a ``const`` op produces it, else None."""
        op = self.producers.get(var_name)
        if op is None or op.type != "const":
            return None
        return op.attribute("val")


class OpView:
    """One operation, with its function for context."""

    def __init__(self, function: FunctionView, proto, depth: int):
        self.function = function
        self.proto = proto
        self.depth = depth
        self.type = proto.type

    @cached_property
    def name(self) -> str:
        """The op's first output name (unique in the function), else its ``name`` attribute."""
        if len(self.proto.outputs) and self.proto.outputs[0].name:
            return self.proto.outputs[0].name
        value = self.attribute("name")
        if value is not None and value.WhichOneof("value") == "immediateValue":
            tensor = value.immediateValue.tensor
            if tensor.WhichOneof("value") == "strings" and len(tensor.strings.values):
                return tensor.strings.values[0]
        return f"<{self.type}>"

    @property
    def location(self) -> str:
        return self.function.loc(self.name)

    def describe(self) -> str:
        """``op 'quantize' (var_12)``."""
        return f"op '{self.type}' ({self.name})"

    @cached_property
    def bound_names(self) -> dict[str, list[str]]:
        """Input key → var names bound to it (immediate values are left out)."""
        return {key: [b.name for b in argument.arguments if b.WhichOneof("binding") == "name"]
                for key, argument in self.proto.inputs.items()}

    def bindings(self, key: str) -> list:
        if key not in self.proto.inputs:
            return []
        return list(self.proto.inputs[key].arguments)

    def attribute(self, key: str):
        return self.proto.attributes[key] if key in self.proto.attributes else None

    def input_type(self, key: str):
        """``ValueType`` of the first argument bound to ``key``, or None."""
        for binding in self.bindings(key):
            if binding.WhichOneof("binding") == "name":
                return self.function.var_types.get(binding.name)
            if binding.WhichOneof("binding") == "value":
                return binding.value.type
        return None

    def input_dtype(self, key: str) -> str | None:
        value_type = self.input_type(key)
        return tensor_dtype(value_type) if value_type is not None else None

    def param(self, key: str):
        """A compile-time parameter as a ``Value``: an attribute (constexpr ops up to iOS17),
        an immediate input value, or the ``val`` of the ``const`` op bound to the input."""
        attribute = self.attribute(key)
        if attribute is not None and key != "name":
            return attribute
        for binding in self.bindings(key):
            if binding.WhichOneof("binding") == "value":
                return binding.value
            return self.function.const_value(binding.name)
        return None

    def param_type(self, key: str):
        """``ValueType`` of a parameter, wherever it is stored."""
        value = self.param(key)
        if value is not None:
            return value.type
        return self.input_type(key)

    def output_dtypes(self) -> list[str | None]:
        return self._output_dtypes

    @cached_property
    def _output_dtypes(self) -> list[str | None]:
        return [tensor_dtype(output.type) for output in self.proto.outputs]

    @property
    def opset_spec(self) -> int | None:
        return self.function.opset_spec
