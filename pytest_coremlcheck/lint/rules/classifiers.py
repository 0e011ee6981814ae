"""CML-C: classifier labels and outputs."""

from __future__ import annotations

from ..rule import Problem, rule

_CLASSIFIER_TYPES = {"neuralNetworkClassifier", "glmClassifier", "supportVectorClassifier",
                     "treeEnsembleClassifier", "kNearestNeighborsClassifier",
                     "pipelineClassifier"}
_OUTPUT_CHANNELS = {"innerProduct": "outputChannels", "convolution": "outputChannels"}
_PASS_THROUGH = {"softmax", "activation", "softmaxND", "flatten", "reshape", "reshapeStatic",
                 "squeeze", "flattenTo2D"}


def _is_classifier(model) -> bool:
    """A classifier model type, or an ML program with classifier outputs. Regressors and
    feature extractors also set predictedFeatureName (the regressor validator requires it)."""
    return model.type in _CLASSIFIER_TYPES or (
        model.type == "mlProgram" and bool(model.description.predictedFeatureName))


def _labels(model):
    """(label kind, labels) of a classifier with ClassLabels, else (None, [])."""
    spec = model.spec
    if model.type in ("neuralNetworkClassifier", "kNearestNeighborsClassifier"):
        message = getattr(spec, model.type)
        kind = message.WhichOneof("ClassLabels")
        if kind == "stringClassLabels":
            return "string", list(message.stringClassLabels.vector)
        if kind == "int64ClassLabels":
            return "int64", list(message.int64ClassLabels.vector)
    return None, []


@rule("CML-C001", "classifier-without-labels", severity="error",
      summary="A NeuralNetwork classifier has no class labels.",
      why="""A neuralNetworkClassifier maps its probability vector to labels; without
      stringClassLabels or int64ClassLabels Core ML rejects it.""",
      fix="Convert with classifier_config=ct.ClassifierConfig(labels).",
      source="mlmodel/src/Validation/Validators.hpp validateClassifierInterface")
def classifier_without_labels(ctx):
    for model in ctx.models:
        if model.type == "neuralNetworkClassifier":
            kind, labels = _labels(model)
            if kind is None or not labels:
                yield Problem(f"NeuralNetwork classifier{model.where()} has no class labels",
                              model.loc())


def _output(model, name):
    return next((f for f in model.description.output if f.name == name), None)


@rule("CML-C002", "classifier-outputs", severity="error",
      summary="A classifier's predicted-label or probability outputs are missing or mistyped.",
      why="""predictedFeatureName must name an output of type String or Int64 matching the
      label type, and predictedProbabilitiesName (when set) an output of Dictionary type;
      otherwise Core ML rejects the model or Vision cannot read the classification.""",
      fix="Let coremltools create the outputs (ct.ClassifierConfig) or fix the names after "
          "renaming features.",
      source="mlmodel/src/Validation/InterfaceValidators.cpp "
             "validateClassifierFeatureDescriptions_ (validateRegressorInterface: regressors "
             "name their predicted value there too)")
def classifier_outputs(ctx):
    for model in ctx.models:
        if not _is_classifier(model) or len(model.description.functions):
            continue
        description = model.description
        where = model.where()
        name = description.predictedFeatureName
        label = _output(model, name) if name else None
        if label is None:
            yield Problem(f"classifier{where}: predictedFeatureName '{name}' is not an output",
                          model.loc("predictedFeatureName"))
        else:
            kind = label.type.WhichOneof("Type")
            labels_kind, _ = _labels(model)
            expected = {"string": "stringType", "int64": "int64Type"}.get(labels_kind)
            if kind not in ("stringType", "int64Type") or (expected and kind != expected):
                yield Problem(f"classifier{where}: predicted label output '{name}' is {kind}"
                              + (f", labels are {labels_kind}" if labels_kind else ""),
                              model.loc(f"output/{name}"))
        probabilities = description.predictedProbabilitiesName
        if probabilities:
            output = _output(model, probabilities)
            if output is None or output.type.WhichOneof("Type") != "dictionaryType":
                kind = output.type.WhichOneof("Type") if output is not None else "missing"
                yield Problem(f"classifier{where}: probabilities output '{probabilities}' is "
                              f"{kind}, not a dictionary", model.loc(f"output/{probabilities}"))


def _probability_channels(network, layer_name: str) -> int | None:
    """outputChannels of the layer producing the probabilities, looking back through
    softmax/activation/reshape layers."""
    by_output = {}
    for layer in network.layers:
        for output in layer.output:
            by_output[output] = layer
    layer = next((l for l in network.layers if l.name == layer_name), None)
    if layer is None and len(network.layers):
        layer = network.layers[-1]
    for _ in range(8):
        if layer is None:
            return None
        kind = layer.WhichOneof("layer")
        if kind in _OUTPUT_CHANNELS:
            return getattr(getattr(layer, kind), _OUTPUT_CHANNELS[kind]) or None
        if kind not in _PASS_THROUGH or not len(layer.input):
            return None
        layer = by_output.get(layer.input[0])
    return None


@rule("CML-C003", "label-count-mismatch", severity="warning",
      summary="The number of class labels differs from the number of probabilities.",
      why="""Each probability is paired with a label by position. When the final layer's
      output channels differ from the label count, predictions are mislabelled or Core ML
      fails at run time. The size is read from the layer producing the probabilities
      (innerProduct/convolution output channels, looking through softmax and reshapes), so
      this is a warning.""",
      fix="Pass exactly one label per output class.",
      source="coremltools/converters/mil/mil/ops/defs/iOS15/classify.py; mlmodel/src/"
             "Validation/Validators.hpp")
def label_count_mismatch(ctx):
    for model in ctx.models:
        if model.type != "neuralNetworkClassifier":
            continue
        _kind, labels = _labels(model)
        if not labels:
            continue
        network = model.spec.neuralNetworkClassifier
        channels = _probability_channels(network, network.labelProbabilityLayerName)
        if channels is not None and channels != len(labels):
            yield Problem(f"NeuralNetwork classifier{model.where()} has {len(labels)} labels "
                          f"but its probability layer has {channels} outputs", model.loc())


@rule("CML-C004", "classifier-in-multifunction", severity="warning", min_target="iOS18",
      summary="A multi-function model contains a classifier.",
      why="""coremltools does not export classifiers in multi-function models ("classifier
      model not supported in multi-functions export"); a hand-assembled one is untested.""",
      fix="Keep the classifier as a separate single-function model.",
      source="coremltools/converters/mil/backend/mil/load.py")
def classifier_in_multifunction(ctx):
    for model in ctx.models:
        description = model.description
        if not len(description.functions):
            continue
        classify = [op for op in (model.program.ops() if model.program else [])
                    if op.type == "classify"]
        labelled = [f.name for f in description.functions if f.predictedFeatureName]
        if classify or labelled:
            yield Problem(f"multi-function model{model.where()} contains a classifier "
                          f"({', '.join(labelled) or classify[0].describe()})", model.loc())
