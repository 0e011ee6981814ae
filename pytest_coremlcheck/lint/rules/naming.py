"""CML-I: feature and file names as Xcode's generated Swift/Objective-C code sees them."""

from __future__ import annotations

import re
from pathlib import Path

from .. import catalog
from ..rule import Problem, rule

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RENAMED = re.compile(r"^(var_\d+|_\d+)$")
SWIFT_KEYWORDS = frozenset("""
associatedtype class deinit enum extension fileprivate func import init inout internal let open
operator private precedencegroup protocol public rethrows static struct subscript typealias var
break case catch continue default defer do else fallthrough for guard if in repeat return throw
switch where while Any as await false is nil self Self super throws true try Type Protocol
""".split())
#: Members of the generated <Model>Input/<Model>Output classes a feature name would shadow.
GENERATED_MEMBERS = frozenset({"model", "featureNames", "featureValue", "description",
                               "hash", "hashValue"})


def _named_features(ctx):
    yield from ctx.features()


@rule("CML-I001", "feature-name-not-identifier", severity="warning",
      summary="A feature name is not a valid Swift/Objective-C identifier.",
      why="""Xcode turns every input and output name into a property of the generated
      <Model>Input/<Model>Output classes. Names such as input.1, 0, conv4-2 or
      Mobilenet/Reshape:0 generate code that does not compile or properties that differ from
      the feature name (Apple: "a bug in code generation … only impacts names that are exposed
      as input or output features").""",
      fix="""Name inputs and outputs at conversion (ct.TensorType(name=...), outputs=[...]) or
      rename them with ct.utils.rename_feature.""",
      source="apple/coremltools#117; tf-coreml/tf-coreml#64 and PR #51; MIL.proto identifier "
             "rule; coremltools preprocess.py NameSanitizer")
def feature_name_not_identifier(ctx):
    for model, feature in _named_features(ctx):
        if feature.name and not _IDENTIFIER.match(feature.name):
            yield Problem(f"{feature.describe()}{model.where()} is not a Swift identifier",
                          feature.location)


@rule("CML-I002", "feature-name-keyword", severity="warning",
      summary="A feature name is a Swift keyword or a member of the generated class.",
      why="""A feature called default, class, init, self or Type becomes a Swift property with
      a keyword name, and model, featureNames or featureValue shadow members Xcode generates.
      The exact behaviour of Xcode for these names is not documented — treat this as a
      heuristic and check with `xcrun coremlcompiler generate`.""",
      fix="Rename the feature (ct.utils.rename_feature).",
      source="Apple documentation \"Integrating a Core ML Model into Your App\"; Swift "
             "language reference (keywords)")
def feature_name_keyword(ctx):
    for model, feature in _named_features(ctx):
        if feature.name in SWIFT_KEYWORDS:
            yield Problem(f"{feature.describe()}{model.where()} is a Swift keyword",
                          feature.location)
        elif feature.name in GENERATED_MEMBERS:
            yield Problem(f"{feature.describe()}{model.where()} shadows the generated member "
                          f"'{feature.name}'", feature.location)


@rule("CML-I003", "file-name-not-identifier", severity="warning",
      summary="The model file name is not a valid identifier.",
      why="""Xcode names the generated class after the file; a file name with '-', spaces or a
      leading digit gets a mangled class name (t-shirt-detector 1 → t_shirt_detector_1), and
      code or bundle lookups that use the original name break.""",
      fix="Rename the .mlmodel/.mlpackage to a valid identifier, e.g. TShirtDetector.mlpackage.",
      source="apple/turicreate#53; apache/mxnet#10171")
def file_name_not_identifier(ctx):
    if ctx.file.kind not in ("mlmodel", "mlpackage") or ctx.file.path is None:
        return
    stem = Path(ctx.file.path).stem
    if not _IDENTIFIER.match(stem):
        yield Problem(f"file name '{Path(ctx.file.path).name}' is not an identifier; Xcode "
                      "will generate a class under another name", "")
    elif stem in SWIFT_KEYWORDS:
        yield Problem(f"file name '{Path(ctx.file.path).name}' is a Swift keyword", "")


@rule("CML-I004", "converter-renamed-feature", severity="info",
      summary="A feature has a converter-made name (var_123).",
      why="""When a source output has no usable name (e.g. a TorchScript value "47"),
      coremltools renames it to var_47 and warns "has been renamed". Such names change between
      conversions, so app code that uses them breaks silently.""",
      fix="Pass outputs=[ct.TensorType(name=\"logits\")] (and named inputs) to ct.convert.",
      source="coremltools/converters/mil/mil/passes/defs/preprocess.py "
             "sanitize_input_output_names; apple/coremltools#1494")
def converter_renamed_feature(ctx):
    for model, feature in _named_features(ctx):
        if _RENAMED.match(feature.name):
            yield Problem(f"{feature.describe()}{model.where()} has a converter-made name",
                          feature.location)


@rule("CML-I005", "reserved-name-workaround", severity="info",
      summary="A feature name ends in _workaround (a MIL-reserved name was replaced).",
      why=f"""coremltools renames features that clash with MIL reserved words
      ({', '.join(sorted(catalog.MIL_RESERVED_NAMES)[:8])}, …) by appending _workaround, so
      the model's interface no longer matches the source's.""",
      fix="Choose a different input/output name at conversion.",
      source="coremltools/converters/mil/mil/passes/defs/preprocess.py "
             "NameSanitizer.sanitize_name")
def reserved_name_workaround(ctx):
    for model, feature in _named_features(ctx):
        if feature.name.endswith("_workaround"):
            yield Problem(f"{feature.describe()}{model.where()} was renamed around a reserved "
                          "word", feature.location)


@rule("CML-I006", "feature-name-empty-or-duplicate", severity="error",
      summary="A feature name is empty, or used twice among inputs, outputs and states.",
      why="""Core ML requires a non-empty name for every feature ("Feature description must
      have a non-empty name") and looks features up by name, so duplicates are ambiguous.""",
      fix="Give every input, output and state a unique name.",
      source="mlmodel/src/Validation/InterfaceValidators.cpp; apple/coremltools#318")
def feature_name_empty_or_duplicate(ctx):
    for model in ctx.models:
        for function, inputs, outputs, states in model.interface_sets():
            where = (f" of function '{function}'" if function else "") + model.where()
            seen: dict[str, str] = {}
            for kind, items in (("input", inputs), ("output", outputs), ("state", states)):
                for feature in items:
                    location = model.loc(f"{kind}/{feature.name}")
                    if not feature.name:
                        yield Problem(f"an {kind}{where} has an empty name", location)
                    elif feature.name in seen:
                        yield Problem(f"{kind} '{feature.name}'{where} has the same name as an "
                                      f"{seen[feature.name]}", location)
                    else:
                        seen[feature.name] = kind
