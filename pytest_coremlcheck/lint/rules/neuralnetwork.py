"""CML-N: NeuralNetwork layers and layer parameters by the spec version that added them."""

from __future__ import annotations

import functools

from .. import catalog
from ..rule import Problem, Requirement, rule

_NN_PROTO = "mlmodel/format/NeuralNetwork.proto"


@functools.lru_cache(maxsize=1)
def layer_specs() -> dict[str, int]:
    """Layer oneof name → spec version, from the field numbers of the installed proto: below
    600 spec 1 (with the catalog's spec-2/3 exceptions), 600 and up spec 4, the catalog's
    iOS14 layers spec 5."""
    from coremltools.proto import NeuralNetwork_pb2

    out = {}
    oneof = NeuralNetwork_pb2.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"]
    for field in oneof.fields:
        name = field.name
        if name in catalog.NN_LAYERS_SPEC5:
            out[name] = 5
        elif name in catalog.NN_LAYERS_SPEC3:
            out[name] = 3
        elif name in catalog.NN_LAYERS_SPEC2:
            out[name] = 2
        else:
            out[name] = 4 if field.number >= 600 else 1
    return out


def _layers(ctx):
    for model in ctx.models:
        network = model.neural_network
        if network is None:
            continue
        for layer in network.layers:
            yield model, layer, layer.WhichOneof("layer")


def _layer_requirement(model, layer, kind, spec):
    return Requirement(spec, f"layer '{layer.name}' ({kind}){model.where()}",
                       model.loc(f"layers/{layer.name}"), model)


@rule("CML-N001", "ios12-layers", severity="error", min_target="iOS12 (spec 3)",
      summary="resizeBilinear and cropResize layers need iOS12.",
      why="These two layers were added with spec 3.",
      fix="Use upsample/crop layers for iOS11.",
      source=f"mlmodel/src/Utils.cpp hasIOS12NewNeuralNetworkLayers; {_NN_PROTO}")
def ios12_layers(ctx):
    for model, layer, kind in _layers(ctx):
        if kind in catalog.NN_LAYERS_SPEC3:
            yield _layer_requirement(model, layer, kind, 3)


@rule("CML-N002", "ios13-layers", severity="error", min_target="iOS13 (spec 4)",
      summary="NeuralNetwork layers added with iOS13 (control flow, N-d tensor ops, …).",
      why="""About 110 layers arrived with spec 4 (NeuralNetwork.proto: "available only after
      Core ML Specification version >= 4"): branch/loop, broadcastable arithmetic, N-d
      reshapes, gather/scatter, layerNormalization, NonMaximumSuppression, … A convolution
      whose weights come from a second input is also spec 4.""",
      fix="Convert with a NeuralNetwork target of iOS13 or newer, or avoid the layer.",
      source=f"{_NN_PROTO}; mlmodel/src/Utils.cpp isIOS12NeuralNetworkLayer")
def ios13_layers(ctx):
    specs = layer_specs()
    for model, layer, kind in _layers(ctx):
        if kind is not None and specs.get(kind) == 4:
            yield _layer_requirement(model, layer, kind, 4)
        elif kind == "convolution" and len(layer.input) >= 2:
            yield Requirement(4, f"layer '{layer.name}' (convolution with weights as input)"
                                 f"{model.where()}", model.loc(f"layers/{layer.name}"), model)


@rule("CML-N003", "ios14-layers", severity="error", min_target="iOS14 (spec 5)",
      summary="oneHot, cumSum, clampedReLU, argSort, 3-D pooling/convolution, sliceBySize "
              "need iOS14.",
      why="These NeuralNetwork layers were added with spec 5.",
      fix="Convert with a NeuralNetwork target of iOS14, or use an ML program.",
      source=f"{_NN_PROTO} (\"version >= 5\"); mlmodel/src/Utils.cpp; coremltools "
             "_deployment_compatibility.iOS14Features")
def ios14_layers(ctx):
    for model, layer, kind in _layers(ctx):
        if kind in catalog.NN_LAYERS_SPEC5:
            yield _layer_requirement(model, layer, kind, 5)


def _ios14_parameters(layer, kind) -> str | None:
    if kind == "upsample":
        params = layer.upsample
        if params.linearUpsampleMode != 0:
            return "align-corners linear upsampling"
        if len(params.fractionalScalingFactor):
            return "fractional scaling factors"
    elif kind == "reorganizeData" and layer.reorganizeData.mode == 2:
        return "PIXEL_SHUFFLE mode"
    elif kind == "sliceDynamic" and (len(layer.input) == 7 or any(
            layer.sliceDynamic.squeezeMasks)):
        return "squeeze masks / 7 inputs"
    elif kind == "sliceStatic" and any(layer.sliceStatic.squeezeMasks):
        return "squeeze masks"
    elif kind == "concatND" and layer.concatND.interleave:
        return "interleave"
    elif kind == "tile" and len(layer.input) == 2:
        return "dynamic repetitions (2 inputs)"
    return None


@rule("CML-N004", "ios14-layer-parameters", severity="error", min_target="iOS14 (spec 5)",
      summary="Layer parameters added with iOS14 (align-corners upsample, pixel shuffle, "
              "squeeze masks, interleaved concat, dynamic tile).",
      why="""Existing layers gained options with spec 5: upsample linearUpsampleMode and
      fractionalScalingFactor, reorganizeData PIXEL_SHUFFLE, slice squeezeMasks, concatND
      interleave, tile with a second (reps) input.""",
      fix="Avoid the option for iOS13 targets.",
      source="mlmodel/src/Utils.cpp hasIOS14NeuralNetworkFeatures; coremltools/models/"
             "neural_network/builder.py add_*; _deployment_compatibility.py")
def ios14_layer_parameters(ctx):
    for model, layer, kind in _layers(ctx):
        detail = _ios14_parameters(layer, kind)
        if detail:
            yield Requirement(5, f"layer '{layer.name}' ({kind}, {detail}){model.where()}",
                              model.loc(f"layers/{layer.name}"), model)


@rule("CML-N005", "neuralnetwork-for-new-target", severity="info", min_target="iOS15+",
      summary="A NeuralNetwork model for a target that runs ML programs.",
      why="""NeuralNetwork models still load on new OS releases, but coremltools no longer
      produces them for iOS15+ targets, and fp16 I/O, weight compression, states and
      multi-function models are ML-program only.""",
      fix="Convert with convert_to=\"mlprogram\" for this target.",
      source="coremltools/converters/_converters_entry.py _determine_target; "
             "docs-guides/source/opt-whats-new.md")
def neuralnetwork_for_new_target(ctx):
    if ctx.target is None or ctx.target.spec < 6:
        return
    for model in ctx.models:
        if model.neural_network is not None:
            yield Problem(f"{model.type}{model.where()} for target {ctx.target.text}; an ML "
                          "program would unlock newer features", model.loc())
