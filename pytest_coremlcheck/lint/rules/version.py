"""CML-V: the specification version, the opset strings and the file format."""

from __future__ import annotations

from ..rule import Problem, Requirement, rule
from ..spec import ModelView
from ..targets import MLPROGRAM_MIN_SPEC, NEWEST_SPEC, all_os_names, opset_strings

_MODEL_SOURCE = "mlmodel/src/Model.cpp validateGeneric"


@rule("CML-V000", "not-a-model", severity="error",
      summary="The file cannot be read as a Core ML model.",
      why="""The path is not an .mlpackage (no Manifest.json, or one naming a missing spec), not
      a parseable Model protobuf, or a spec without a model type — typically a truncated copy,
      a Git LFS pointer that was never fetched, or a compiled .mlmodelc.""",
      fix="""Check the file (git lfs pull, re-export); lint the .mlmodel/.mlpackage, not the
      compiled .mlmodelc.""",
      source="coremlcheck; mlmodel/format/Model.proto")
def not_a_model(ctx):
    return ()  # reported by the command line and the pytest plugin for unreadable files


@rule("CML-V001", "spec-newer-than-target", severity="error",
      summary="The declared specification version is newer than the deployment target.",
      why="""Core ML refuses a model whose specificationVersion is newer than the OS supports:
      Xcode reports "The model supplied is of version 7, intended for a newer version of Xcode"
      and the app fails to load it on older devices. The declared version is checked, not what
      the model uses: a file converted for iOS17 is rejected by iOS16 even if every op exists
      there.""",
      fix="""Re-convert with minimum_deployment_target at or below the target (or raise the
      app's deployment target); the other findings say which features need the newer OS.""",
      source=f"{_MODEL_SOURCE}; apple/coremltools#198, #750, #1557; "
             "apple/ml-stable-diffusion#25")
def spec_newer_than_target(ctx):
    if ctx.target is None:
        return
    for model in ctx.models:
        declared = model.declared
        if declared > ctx.target.spec and declared <= NEWEST_SPEC:
            subject = model.label or "the model"
            yield Problem(f"{subject} declares spec {declared} ({ctx.name(declared)}), newer "
                          f"than target {ctx.target.describe()}: Core ML there rejects it "
                          f"(\"model supplied is of version {declared}\")", model.loc())


@rule("CML-V002", "spec-version-missing", severity="error",
      summary="specificationVersion is 0 (missing or corrupt).",
      why="""Core ML validates the version first; 0 means the field was never written (a
      hand-built spec) or the file is corrupt, and every OS rejects it with "Model
      specification version field missing or corrupt".""",
      fix="Set spec.specificationVersion to the version the model needs (see required target).",
      source=f"{_MODEL_SOURCE}; apple/coremltools#1323")
def spec_version_missing(ctx):
    for model in ctx.models:
        if model.declared <= 0:
            subject = model.label or "the model"
            yield Problem(f"{subject} has specificationVersion {model.declared}: missing or "
                          "corrupt; every Core ML version rejects it", model.loc())


@rule("CML-V003", "spec-version-unknown", severity="error",
      summary="specificationVersion is newer than any Core ML release.",
      why=f"""Specification versions run from 1 (iOS 11) to {NEWEST_SPEC} (iOS 26,
      MLMODEL_SPECIFICATION_VERSION_NEWEST). A larger number comes from a corrupt file or a
      tool newer than this linter; no shipping OS loads it.""",
      fix="Re-save the model with coremltools, or update coremlcheck if the OS is newer.",
      source="mlmodel/src/Globals.hpp MLMODEL_SPECIFICATION_VERSION_NEWEST")
def spec_version_unknown(ctx):
    for model in ctx.models:
        if model.declared > NEWEST_SPEC:
            subject = model.label or "the model"
            yield Problem(f"{subject} declares spec {model.declared}; the newest known is "
                          f"{NEWEST_SPEC} ({all_os_names(NEWEST_SPEC)})", model.loc())


@rule("CML-V004", "spec-older-than-features", severity="error",
      summary="The declared specification version is older than the features the model uses.",
      why="""Core ML checks features against the declared version (FLOAT16 I/O needs 7, states
      need 9, opset CoreML7 needs 8, …). A file that declares less than it uses is rejected on
      every OS — typically a spec edited by hand or assembled from parts. The message names
      the feature that needs the most and the rule that found it.""",
      fix="""Set specificationVersion to the required version (or re-save with coremltools,
      which computes it), or remove the feature.""",
      source="mlmodel/src/Validation/InterfaceValidators.cpp; mlmodel/src/Utils.cpp "
             "downgradeSpecificationVersion; apple/coremltools PR #2684")
def spec_older_than_features(ctx):
    return ()  # derived by the engine from every rule's requirements


@rule("CML-V005", "spec-higher-than-needed", severity="info",
      summary="A NeuralNetwork or classic model declares a newer version than it needs.",
      why="""For NeuralNetwork and classic model types the declared version alone decides
      which OS can load the file. If nothing in it needs that version, devices on older OS
      releases are turned away for no reason (coremltools' own save path downgrades the
      version the same way).""",
      fix="""Lower spec.specificationVersion to the required version shown (or convert with
      that minimum_deployment_target).""",
      source="mlmodel/src/Utils.cpp downgradeSpecificationVersion")
def spec_higher_than_needed(ctx):
    return ()  # derived by the engine from every rule's requirements


@rule("CML-V006", "mlprogram-needs-ios15", severity="error", min_target="iOS15 (spec 6)",
      summary="An ML program needs iOS15/macOS12/tvOS15/watchOS8 or newer.",
      why="""The mlProgram model type was introduced with spec 6; older OS releases only run
      NeuralNetwork models. coremltools refuses to convert to mlprogram for older targets, but
      a model converted without a target is an ML program for iOS15.""",
      fix="""For an older target convert with convert_to="neuralnetwork" and
      minimum_deployment_target at most iOS14.""",
      source="mlmodel/src/Utils.cpp hasIOS15Features; "
             "coremltools/converters/_converters_entry.py _determine_target")
def mlprogram_needs_ios15(ctx):
    for model in ctx.models:
        if model.type == "mlProgram":
            yield Requirement(MLPROGRAM_MIN_SPEC, f"ML program{model.where()}", model.loc(),
                              model)


@rule("CML-V007", "opset-needs-spec", severity="error", min_target="per opset",
      summary="A function's opset string needs a newer OS than the target.",
      why="""Each ML program function names its opset (CoreML5 = iOS15 … CoreML8 = iOS18,
      CoreML9 = iOS26). An OS that does not know the opset fails with "Unknown opset
      'CoreML7'", whatever ops the function uses. The finding also flags unknown opset names
      and a declared version that does not match the opset coremltools would write.""",
      fix="""Re-convert with minimum_deployment_target equal to the target; the op findings
      say what prevents that.""",
      source="coremltools/__init__.py _OPSET; mlmodel/src/Utils.cpp hasIOS16..18Features; "
             "apple/coremltools#2116, #2283")
def opset_needs_spec(ctx):
    opsets = opset_strings()
    known = ", ".join(opsets[s] for s in sorted(opsets) if s >= MLPROGRAM_MIN_SPEC)
    for function in ctx.functions():
        model: ModelView = function.model
        where = function.model.loc(function.name)
        if function.opset_spec is None or function.opset_spec not in opsets:
            yield Problem(f"function '{function.name}'{model.where()} declares opset "
                          f"'{function.opset}', not a Core ML opset ({known})", where)
            continue
        if function.opset_spec < MLPROGRAM_MIN_SPEC:
            yield Problem(f"function '{function.name}'{model.where()} declares opset "
                          f"'{function.opset}', older than the first ML program opset "
                          f"'{opsets[MLPROGRAM_MIN_SPEC]}'", where)
            continue
        yield Requirement(function.opset_spec,
                          f"opset '{function.opset}' of function '{function.name}'"
                          f"{model.where()}", where, model, container=True)
        expected = opsets.get(model.declared)
        if expected and function.opset_spec < model.declared and expected != function.opset:
            yield Problem(f"function '{function.name}'{model.where()} uses opset "
                          f"'{function.opset}' in a spec-{model.declared} model, whose opset is "
                          f"'{expected}'; coremltools never writes this combination",
                          where, severity="warning")


@rule("CML-V008", "opset-block-missing", severity="error",
      summary="A function has no block for its own opset.",
      why="""A function's body lives in block_specializations keyed by opset; Core ML and
      coremltools look up the function's opset there ("Missing block specialization for
      opset"). Without it the function has no body.""",
      fix="Re-save the program with coremltools; do not edit opset strings by hand.",
      source="mlmodel/format/MIL.proto Function; "
             "coremltools/converters/mil/frontend/milproto/load.py")
def opset_block_missing(ctx):
    for function in ctx.functions():
        if function.block is None:
            keys = ", ".join(repr(k) for k in function.proto.block_specializations) or "none"
            yield Problem(f"function '{function.name}'{function.model.where()} declares opset "
                          f"'{function.opset}' but has no block for it (blocks: {keys})",
                          function.model.loc(function.name))


@rule("CML-V009", "pipeline-submodel-newer", severity="info",
      summary="A pipeline declares an older version than one of its sub-models.",
      why="""Core ML validates each sub-model against its own declared version and never
      compares it with the pipeline's, so such files load (Create ML and Ultralytics write
      them). The pipeline still needs the OS of its newest sub-model: the required target and
      CML-V001 account for that; the pipeline's own number merely understates it.""",
      fix="""Nothing is needed; for a self-describing file set the pipeline's
      specificationVersion to the highest of its sub-models.""",
      source="mlmodel/src/Validation/PipelineValidator.cpp (each sub-model is validated with "
             "Model::validate on its own); coremltools/models/utils.py make_pipeline")
def pipeline_submodel_newer(ctx):
    for model in ctx.models:
        for child in model.submodels:
            if child.declared > model.declared > 0:
                parent = model.label or "the pipeline"
                yield Problem(f"{child.label} declares spec {child.declared} "
                              f"({ctx.name(child.declared)}) but {parent} declares "
                              f"{model.declared}; the file needs {ctx.name(child.declared)}",
                              child.loc())


@rule("CML-V010", "mlprogram-packaging", severity="error", min_target="iOS15",
      summary="An ML program is not packaged as .mlpackage, or its weight blobs are missing.",
      why="""An ML program keeps its weights in Data/com.apple.CoreML/weights/weight.bin of an
      .mlpackage; the spec refers to them as @model_path/weights/weight.bin plus an offset. A
      bare .mlmodel has nowhere to keep them (coremltools refuses to save one), and a package
      whose weight file is missing, truncated or points at the wrong offset fails to load or
      compile.""",
      fix="""Save ML programs with model.save("Name.mlpackage") and copy the whole package,
      weights directory included.""",
      source="coremltools/models/model.py save (\"For an ML Program, extension must be "
             ".mlpackage\"); coremltools/models/utils.py _WEIGHTS_DIR_NAME; "
             "mlmodel/src/MILBlob/Blob/StorageFormat.hpp")
def mlprogram_packaging(ctx):
    if ctx.file.kind == "mlmodel" and any(m.type == "mlProgram" for m in ctx.models):
        yield Problem(f"an ML program saved as a bare .mlmodel ({ctx.file.display}); it must be "
                      "an .mlpackage that carries its weights", "")
    if ctx.file.model_dir is None:
        return
    problems: dict[str, list[str]] = {}
    for op, _key, value in blob_references(ctx):
        blob = value.blobFileValue
        record = ctx.blobs.record(blob.fileName, blob.offset)
        if isinstance(record, str):
            problems.setdefault(blob.fileName, []).append(f"{op.location}: {record}")
    for file_name, items in problems.items():
        if ctx.blobs.file_size(file_name) is None:
            yield Problem(f"weight file {file_name} is missing; {len(items)} constant(s) point "
                          "into it", items[0].split(":")[0])
            continue
        for item in items[:5]:
            location, _, detail = item.partition(": ")
            yield Problem(f"broken weight reference: {detail}", location)
        if len(items) > 5:
            yield Problem(f"{len(items) - 5} more broken references into {file_name}",
                          items[5].split(":")[0])


def blob_references(ctx):
    """(op, key, Value) for every constant stored in a weight file (computed once)."""

    def collect():
        out = []
        for op in ctx.ops():
            for key, value in op.proto.attributes.items():
                if value.WhichOneof("value") == "blobFileValue":
                    out.append((op, key, value))
            for key, argument in op.proto.inputs.items():
                for binding in argument.arguments:
                    if (binding.WhichOneof("binding") == "value"
                            and binding.value.WhichOneof("value") == "blobFileValue"):
                        out.append((op, key, binding.value))
        return out

    return ctx.memo("blob_references", collect)


@rule("CML-V999", "rule-crashed", severity="warning",
      summary="A rule could not finish on this model.",
      why="""The linter checks every part of the spec it understands; a rule that meets a part
      it cannot read (usually a malformed or hand-edited spec) reports this instead of
      stopping the lint. Findings of the other rules still stand.""",
      fix="""Check that the file loads with coremltools (ct.models.MLModel); if it does, report
      the message to coremlcheck.""",
      source="coremlcheck")
def rule_crashed(ctx):
    return ()  # reported by the engine when a rule raises
