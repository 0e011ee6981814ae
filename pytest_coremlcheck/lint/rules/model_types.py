"""CML-M: model types by version, custom and linked models, updatable models, pipelines."""

from __future__ import annotations

from pathlib import Path

from ...coreml.describe import class_labels
from .. import catalog
from ..rule import Problem, Requirement, rule
from ..spec import array_dtype_name, color_space_name


@rule("CML-M001", "custom-layer", severity="error", min_target="iOS11.2 (spec 2)",
      summary="Custom NeuralNetwork layers need iOS11.2 and an MLCustomLayer class in the app.",
      why="""A custom layer is only a name: the app must ship a class implementing
      MLCustomLayer with that name, or the model fails to load. Custom layers were added with
      spec 2.""",
      fix="Ship the layer's Swift/Objective-C implementation, or replace the layer with "
          "built-in ones.",
      source="coremltools _MINIMUM_CUSTOM_LAYER_SPEC_VERSION; mlmodel/src/Utils.cpp "
             "hasCustomLayer")
def custom_layer(ctx):
    for model in ctx.models:
        network = model.neural_network
        if network is None:
            continue
        for layer in network.layers:
            if layer.WhichOneof("layer") == "custom":
                location = model.loc(f"layers/{layer.name}")
                yield Requirement(2, f"custom layer '{layer.name}'{model.where()}", location,
                                  model)
                yield Problem(f"custom layer '{layer.name}'{model.where()} needs class "
                              f"'{layer.custom.className}' (MLCustomLayer) in the app",
                              location, severity="warning")


@rule("CML-M002", "custom-model", severity="error", min_target="iOS12 (spec 3)",
      summary="Custom models need iOS12 and an MLCustomModel class in the app.",
      why="""A customModel carries only a class name and parameters; the app must implement
      MLCustomModel under that name. Custom models were added with spec 3.""",
      fix="Ship the MLCustomModel implementation with the app.",
      source="coremltools _MINIMUM_CUSTOM_MODEL_SPEC_VERSION; Apple documentation "
             "MLCustomModel")
def custom_model(ctx):
    for model in ctx.models:
        if model.type == "customModel":
            yield Requirement(3, f"custom model{model.where()}", model.loc(), model)
            yield Problem(f"custom model{model.where()} needs class "
                          f"'{model.spec.customModel.className}' (MLCustomModel) in the app",
                          model.loc(), severity="warning")


@rule("CML-M003", "linked-model", severity="error", min_target="iOS13 (spec 4)",
      summary="Linked models need iOS13, and their .mlmodelc must ship in the bundle.",
      why="""A linkedModel points at another compiled model by file name and search path; it
      was added with spec 4. The target model is looked up at load time, so a linked file
      that is not in the app bundle fails only on the device. The linter looks for the file
      next to the model and under the configured bundle directories (bundle-dirs); it is
      missing there: warning when no bundle directories are configured, error when they
      are.""",
      fix="""Add the linked model (or the .mlmodel/.mlpackage it is compiled from) to the app
      target, or configure bundle-dirs so the linter can see the bundle.""",
      source="coremltools _MINIMUM_LINKED_MODELS_SPEC_VERSION; mlmodel/format/LinkedModel.proto;"
             " mlmodel/src/Utils.cpp hasIOS13Features")
def linked_model(ctx):
    for model in ctx.models:
        if model.type != "linkedModel":
            continue
        linked = model.spec.linkedModel.linkedModelFile
        file_name = linked.linkedModelFileName.defaultValue
        search = linked.linkedModelSearchPath.defaultValue
        yield Requirement(4, f"linked model '{file_name}'{model.where()}", model.loc(), model)
        if not file_name:
            yield Problem(f"linked model{model.where()} names no file", model.loc())
            continue
        searched, found = _find_linked(ctx, file_name, search)
        if found is None and searched:
            configured = bool(ctx.config.bundle_dirs)
            yield Problem(f"linked model '{file_name}'{model.where()} not found (searched "
                          f"{', '.join(searched)})", model.loc(),
                          severity="error" if configured else "warning")


def _find_linked(ctx, file_name: str, search_path: str) -> tuple[list[str], Path | None]:
    roots: list[Path] = []
    if ctx.file.path is not None and ctx.file.kind in ("mlmodel", "mlpackage"):
        roots.append(ctx.file.path.parent)
    roots.extend(ctx.config.bundle_dirs)
    stem = Path(file_name).stem
    names = [file_name, stem + ".mlmodelc", stem + ".mlmodel", stem + ".mlpackage"]
    subdirs = ["."]
    for part in search_path.split(":"):
        part = part.replace("$BUNDLE_MAIN", ".").replace("$BUNDLE_IDENTIFIER()", ".").strip()
        if part and part not in subdirs and not part.startswith("/"):
            subdirs.append(part)
    searched = []
    for root in roots:
        for subdir in subdirs:
            directory = (root / subdir)
            searched.append(str(directory))
            for name in names:
                if (directory / name).exists():
                    return searched, directory / name
    return searched, None


@rule("CML-M004", "updatable-model", severity="error", min_target="iOS13 (spec 4)",
      summary="Updatable (on-device training) models need iOS13.",
      why="isUpdatable and the training description were added with spec 4.",
      fix="Clear isUpdatable for older targets.",
      source="coremltools _MINIMUM_UPDATABLE_SPEC_VERSION; mlmodel/src/Model.cpp")
def updatable_model(ctx):
    for model in ctx.models:
        if model.spec.isUpdatable:
            yield Requirement(4, f"updatable model{model.where()}", model.loc("isUpdatable"),
                              model)


@rule("CML-M005", "updatable-type", severity="error",
      summary="isUpdatable is set on a model type that cannot be updated.",
      why="""Only NeuralNetwork models (plain, classifier, regressor), k-nearest-neighbors
      classifiers and pipelines of them can be trained on device; ML programs cannot.""",
      fix="Clear isUpdatable, or build the model as an updatable NeuralNetwork/KNN.",
      source="mlmodel/src/Validation/InterfaceValidators.cpp validateCanModelBeUpdatable")
def updatable_type(ctx):
    for model in ctx.models:
        if model.spec.isUpdatable and model.type not in catalog.UPDATABLE_TYPES:
            yield Problem(f"{model.type}{model.where()} is marked updatable; only "
                          "NeuralNetwork, KNN and pipeline models can be", model.loc())


_UPDATABLE_LAYERS = {"convolution", "innerProduct"}


@rule("CML-M006", "updatable-network-invalid", severity="error", min_target="iOS13",
      summary="An updatable NeuralNetwork or pipeline is not trainable as declared.",
      why="""An updatable network needs at least one updatable layer, only convolution and
      innerProduct layers may be updatable and their weights must not be quantized, exactly
      one loss layer, and training inputs; in an updatable pipeline only the last model may be
      updatable.""",
      fix="Build updatable models with coremltools' NeuralNetworkBuilder.make_updatable and "
          "set_categorical_cross_entropy_loss / set_mean_squared_error_loss.",
      source="mlmodel/src/Validation/UpdatableNeuralNetworkValidator.cpp; "
             "mlmodel/src/Validation/PipelineValidator.cpp")
def updatable_network_invalid(ctx):
    for model in ctx.models:
        if not model.spec.isUpdatable:
            continue
        if model.type in catalog.PIPELINE_TYPES:
            children = model.submodels
            for child in children[:-1]:
                if child.spec.isUpdatable:
                    yield Problem(f"{child.label} is updatable but is not the last model of the "
                                  "pipeline", child.loc())
            if children and not children[-1].spec.isUpdatable:
                yield Problem(f"updatable pipeline{model.where()}: its last model is not "
                              "updatable", model.loc())
            continue
        network = model.neural_network
        if network is None:
            continue
        yield from _network_update_problems(model, network)


def _network_update_problems(model, network):
    updatable = [layer for layer in network.layers if layer.isUpdatable]
    if not updatable:
        yield Problem(f"updatable network{model.where()} has no updatable layer", model.loc())
    for layer in updatable:
        kind = layer.WhichOneof("layer")
        location = model.loc(f"layers/{layer.name}")
        if kind not in _UPDATABLE_LAYERS:
            yield Problem(f"layer '{layer.name}' ({kind}){model.where()} is marked updatable; "
                          "only convolution and innerProduct layers can be", location)
            continue
        params = getattr(layer, kind)
        for field in ("weights", "bias"):
            if params.HasField(field) and getattr(params, field).HasField("quantization"):
                yield Problem(f"updatable layer '{layer.name}'{model.where()} has quantized "
                              f"{field}", location)
    losses = list(network.updateParams.lossLayers)
    if len(losses) != 1:
        yield Problem(f"updatable network{model.where()} has {len(losses)} loss layers; it "
                      "needs exactly one", model.loc("updateParams"))
    if not network.updateParams.HasField("optimizer"):
        yield Problem(f"updatable network{model.where()} has no optimizer",
                      model.loc("updateParams"))
    if not len(model.description.trainingInput):
        yield Problem(f"updatable network{model.where()} declares no training inputs",
                      model.loc("trainingInput"))


#: (model type, revision) → spec version (mlmodel/src/Utils.cpp hasIOS13..18Features).
_REVISION_SPEC = {
    ("textClassifier", 2): 4, ("gazetteer", 2): 4, ("wordEmbedding", 2): 4,
    ("wordTagger", 3): 5,
    ("wordTagger", 4): 8, ("textClassifier", 4): 8,
    ("wordTagger", 5): 9, ("textClassifier", 5): 9,
}


@rule("CML-M007", "model-type-version", severity="error", min_target="as listed",
      summary="A model type (or its revision) needs a newer OS than the target.",
      why="""Besides NeuralNetwork and ML program, Core ML model types arrived over time:
      NonMaximumSuppression, BayesianProbitRegressor, TextClassifier, WordTagger,
      VisionFeaturePrint.scene (spec 3); KNN, ItemSimilarityRecommender,
      SoundAnalysisPreprocessing, Gazetteer, WordEmbedding (4); SerializedModel,
      VisionFeaturePrint.objects, WordTagger rev 3, NMS with FLOAT32 I/O (5);
      AudioFeaturePrint.sound (6); ScenePrint v2, ClassConfidenceThresholding, text models
      rev 4 (8); text models rev 5 (9).""",
      fix="Use a model revision or type available on the target, or raise the target.",
      source="mlmodel/src/Utils.cpp hasIOS12..18Features; mlmodel/src/Validation/"
             "NonMaximumSuppressionValidator.cpp")
def model_type_version(ctx):
    skip = {"mlProgram", "customModel", "linkedModel"}
    for model in ctx.models:
        kind = model.type
        if kind in catalog.MODEL_TYPE_SPEC and kind not in skip:
            yield Requirement(catalog.MODEL_TYPE_SPEC[kind], f"model type {kind}"
                                                            f"{model.where()}", model.loc(), model)
        yield from _type_detail_requirements(model, kind)


def _type_detail_requirements(model, kind):
    spec = model.spec
    if kind == "visionFeaturePrint":
        which = spec.visionFeaturePrint.WhichOneof("VisionFeaturePrintType")
        if which == "objects":
            yield Requirement(5, f"VisionFeaturePrint.objects{model.where()}", model.loc(),
                              model)
        elif which == "scene" and spec.visionFeaturePrint.scene.version == 2:
            yield Requirement(8, f"VisionFeaturePrint.scene version 2{model.where()}",
                              model.loc(), model)
    elif kind in ("wordTagger", "textClassifier", "gazetteer", "wordEmbedding"):
        revision = getattr(spec, kind).revision
        needed = _REVISION_SPEC.get((kind, revision))
        if needed:
            yield Requirement(needed, f"{kind} revision {revision}{model.where()}",
                              model.loc(), model)
    elif kind == "audioFeaturePrint" and spec.audioFeaturePrint.WhichOneof(
            "AudioFeaturePrintType") == "sound":
        yield Requirement(6, f"AudioFeaturePrint.sound{model.where()}", model.loc(), model)
    elif kind == "nonMaximumSuppression":
        for feature in model.features:
            if (feature.type_kind == "multiArrayType" and array_dtype_name(
                    feature.proto.type.multiArrayType.dataType) == "FLOAT32"):
                yield Requirement(5, f"NonMaximumSuppression FLOAT32 {feature.describe()}"
                                     f"{model.where()}", feature.location, model)


def _type_signature(feature_type) -> str:
    kind = feature_type.WhichOneof("Type")
    if kind == "multiArrayType":
        return f"MultiArray {array_dtype_name(feature_type.multiArrayType.dataType)}"
    if kind == "imageType":
        return f"image {color_space_name(feature_type.imageType.colorSpace)}"
    if kind == "dictionaryType":
        return f"dictionary {feature_type.dictionaryType.WhichOneof('KeyType')}"
    if kind == "sequenceType":
        return f"sequence {feature_type.sequenceType.WhichOneof('Type')}"
    return str(kind)


def _compatible(produced, consumed) -> bool:
    """Whether a value described by ``produced`` may feed an input described by ``consumed``
    (Core ML converts between MultiArray dtypes and between double and int64)."""
    kind_p, kind_c = produced.WhichOneof("Type"), consumed.WhichOneof("Type")
    if kind_p == kind_c:
        if kind_c == "imageType":
            return produced.imageType.colorSpace == consumed.imageType.colorSpace
        return True
    numeric = {"multiArrayType", "doubleType", "int64Type"}
    return kind_p in numeric and kind_c in numeric


@rule("CML-M008", "pipeline-wiring", severity="error",
      summary="A pipeline's models are not wired together.",
      why="""Each model of a pipeline reads inputs produced by the pipeline's inputs or by an
      earlier model, with compatible types; the pipeline's outputs must be produced somewhere;
      names (when given) must be unique and one per model; an empty pipeline is invalid.""",
      fix="Rename features so producer and consumer match (ct.utils.rename_feature), or "
          "rebuild the pipeline with ct.utils.make_pipeline.",
      source="mlmodel/src/Validation/PipelineValidator.cpp")
def pipeline_wiring(ctx):
    for model in ctx.models:
        if model.type not in catalog.PIPELINE_TYPES:
            continue
        children = model.submodels
        if not children:
            yield Problem(f"pipeline{model.where()} has no models", model.loc())
            continue
        pipeline = getattr(model.spec, model.type)
        if model.type != "pipeline":
            pipeline = pipeline.pipeline
        names = list(pipeline.names)
        if names and len(names) != len(children):
            yield Problem(f"pipeline{model.where()} names {len(names)} models but has "
                          f"{len(children)}", model.loc())
        if len(set(names)) != len(names):
            yield Problem(f"pipeline{model.where()} has duplicate model names {names}",
                          model.loc())
        available = {f.name: f.type for f in model.description.input}
        for child in children:
            for feature in child.description.input:
                source = available.get(feature.name)
                location = child.loc(f"input/{feature.name}")
                if source is None:
                    if not feature.type.isOptional:
                        yield Problem(f"{child.label} reads input '{feature.name}', which "
                                      "neither the pipeline inputs nor an earlier model "
                                      "provide", location)
                elif not _compatible(source, feature.type):
                    yield Problem(f"{child.label} reads '{feature.name}' as "
                                  f"{_type_signature(feature.type)} but it is produced as "
                                  f"{_type_signature(source)}", location)
            for feature in child.description.output:
                available[feature.name] = feature.type
        for feature in model.description.output:
            if feature.name not in available:
                yield Problem(f"pipeline output '{feature.name}'{model.where()} is produced by "
                              "no model", model.loc(f"output/{feature.name}"))


@rule("CML-M009", "preprocessing-unbound", severity="error",
      summary="NeuralNetwork image preprocessing names an input that is not an image input.",
      why="""Image scaling/mean preprocessing is bound to an image input by name. After an
      input is renamed (ct.utils.rename_feature in old versions, or hand edits) the
      preprocessing still names the old input and Core ML rejects the model.""",
      fix="Set preprocessing.featureName to the image input's current name.",
      source="mlmodel/format/NeuralNetwork.proto NeuralNetworkPreprocessing; "
             "onnx/onnx-coreml#410")
def preprocessing_unbound(ctx):
    for model in ctx.models:
        network = model.neural_network
        if network is None:
            continue
        images = {f.name for f in model.description.input if f.type.WhichOneof("Type") ==
                  "imageType"}
        for index, item in enumerate(network.preprocessing):
            if item.featureName and item.featureName not in images:
                yield Problem(f"preprocessing {index}{model.where()} is bound to "
                              f"'{item.featureName}', which is not an image input (image "
                              f"inputs: {sorted(images) or 'none'})",
                              model.loc(f"preprocessing/{index}"))


@rule("CML-M010", "duplicate-class-labels", severity="warning",
      summary="A classifier lists the same class label more than once.",
      why="""The probabilities output is a dictionary keyed by label, so a repeated label keeps
      one probability and loses the others; which position survives is not documented, and the
      predicted label can name a class whose dictionary entry is not the largest (Apple's
      published SqueezeNet lists 'crane', 'pot' and 'macbook' twice, from ImageNet's
      synonyms). The reference executor keeps each label's last position.""",
      fix="""Make every label unique (e.g. append the class index or the synset id) before
      passing them to ct.ClassifierConfig / set_class_labels.""",
      source="mlmodel/format/FeatureTypes.proto DictionaryFeatureType; coremltools classify "
             "op (Dict[classT, probT])")
def duplicate_class_labels(ctx):
    for model in ctx.models:
        if model.type in catalog.PIPELINE_TYPES:
            continue
        labels = class_labels(model.spec)
        if not labels:
            continue
        repeated = _repeated(labels)
        if repeated:
            shown = ", ".join(f"{label!r} at {positions}" for label, positions in repeated[:5])
            more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
            yield Problem(f"classifier{model.where()} repeats {len(repeated)} class label(s): "
                          f"{shown}{more}; its probability dictionary keeps one value for each",
                          model.loc("classLabels"))


def _repeated(labels: list) -> list[tuple[object, list[int]]]:
    """(label, positions) of each label that appears more than once, in order."""
    positions: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        positions.setdefault(str(label), []).append(index)
    return [(labels[p[0]], p) for p in positions.values() if len(p) > 1]
