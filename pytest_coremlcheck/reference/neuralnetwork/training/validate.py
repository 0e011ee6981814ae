"""The training set-up of an updatable NeuralNetwork, checked as Core ML's validator does.

Follows ``UpdatableNeuralNetworkValidator.cpp`` and ``ParameterValidator.cpp``: at least one
layer marked ``isUpdatable``; only ``convolution`` and ``innerProduct`` layers may be, with
their weights and bias marked updatable and stored as float32 (not quantized, not fp16);
exactly one loss layer; a categorical cross-entropy input produced by a ``softmax`` layer and an
MSE input produced inside the network; loss targets not produced inside the network; training
inputs naming the loss target (or the classifier's ``predictedFeatureName``) and at least one
model input; an optimizer with every hyper-parameter set, each default inside its allowed range
or set (``miniBatchSize``, ``epochs`` positive); only back-propagable layers (convolution,
innerProduct, flatten, pooling, batchnorm, ReLU/sigmoid/tanh activations, the softmax feeding a
cross-entropy) between an updatable layer and the loss.

Every error names the model, the spec field and what was expected.
"""

from __future__ import annotations

from ...errors import ModelLoadError

NN_KINDS = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")
UPDATABLE_LAYERS = ("convolution", "innerProduct")
BACKPROPAGABLE = ("convolution", "innerProduct", "uniDirectionalLSTM", "flatten", "pooling",
                  "batchnorm")
BACKPROPAGABLE_ACTIVATIONS = ("ReLU", "sigmoid", "tanh")
MIN_SPEC_VERSION = 4


class TrainingSetupError(ModelLoadError):
    """An updatable model whose training set-up Core ML would reject."""


def validate_training(spec, name: str) -> None:
    """Raise :class:`TrainingSetupError` naming the first field Core ML's validator rejects."""
    def fail(message: str):
        raise TrainingSetupError(f"{name}: {message}")

    kind = spec.WhichOneof("Type")
    if not spec.isUpdatable:
        fail("isUpdatable is false: the model cannot be trained")
    if kind not in NN_KINDS:
        fail(f"model type {kind!r} cannot be trained by gradient descent; expected one of "
             f"{', '.join(NN_KINDS)}")
    if spec.specificationVersion < MIN_SPEC_VERSION:
        fail(f"specificationVersion {spec.specificationVersion}: updatable models need "
             f"≥ {MIN_SPEC_VERSION} (iOS 13)")
    nn = getattr(spec, kind)
    _check_layers(nn, fail)
    _check_losses(spec, nn, fail)
    _check_optimizer(nn.updateParams, fail)
    _check_backprop_path(nn, fail)


def _check_layers(nn, fail) -> None:
    updatable = [layer for layer in nn.layers if layer.isUpdatable]
    if not updatable:
        fail("isUpdatable is set but no layer is marked isUpdatable")
    for layer in updatable:
        kind = layer.WhichOneof("layer")
        if kind not in UPDATABLE_LAYERS:
            fail(f"layer {layer.name!r} is marked isUpdatable but is a {kind} layer; only "
                 "convolution and innerProduct layers can be updated")
        params = getattr(layer, kind)
        parts = [("weights", params.weights)]
        if params.hasBias:
            parts.append(("bias", params.bias))
        for part, wp in parts:
            if not wp.isUpdatable:
                fail(f"layer {layer.name!r}: {kind}.{part}.isUpdatable is false; an updatable "
                     "layer's weights and bias must be marked updatable")
            if len(wp.floatValue) == 0:
                storage = "quantized" if wp.HasField("quantization") or wp.rawValue else "fp16"
                fail(f"layer {layer.name!r}: {kind}.{part} is stored {storage}; updatable "
                     "weights must be float32 (floatValue)")
    names = [layer.name for layer in nn.layers] + [x.name for x in nn.updateParams.lossLayers]
    seen = set()
    for layer_name in names:
        if layer_name in seen:
            fail(f"name {layer_name!r} is used by more than one layer or loss layer")
        seen.add(layer_name)


def _producers(nn) -> dict:
    return {out: layer for layer in nn.layers for out in layer.output}


def _check_losses(spec, nn, fail) -> None:
    losses = nn.updateParams.lossLayers
    if len(losses) != 1:
        fail(f"updateParams.lossLayers holds {len(losses)} loss layers; exactly one is supported")
    loss = losses[0]
    kind = loss.WhichOneof("LossLayerType")
    if kind is None:
        fail(f"loss layer {loss.name!r} sets no loss type; expected "
             "categoricalCrossEntropyLossLayer or meanSquaredErrorLossLayer")
    body = getattr(loss, kind)
    field = f"updateParams.lossLayers[{loss.name!r}].{kind}"
    producers = _producers(nn)
    producer = producers.get(body.input)
    if kind == "categoricalCrossEntropyLossLayer":
        if producer is None or producer.WhichOneof("layer") != "softmax":
            what = (f"a {producer.WhichOneof('layer')} layer ({producer.name!r})"
                    if producer is not None else "no layer")
            fail(f"{field}.input {body.input!r} is produced by {what}; categorical "
                 "cross-entropy needs the output of a softmax layer")
    elif producer is None:
        fail(f"{field}.input {body.input!r} is not produced inside the network")
    if body.target in producers:
        fail(f"{field}.target {body.target!r} is produced inside the network (by layer "
             f"{producers[body.target].name!r}); the target must be a training input")
    _check_training_inputs(spec, body, field, fail)


def _check_training_inputs(spec, body, field: str, fail) -> None:
    description = spec.description
    names = {f.name: f for f in description.trainingInput}
    if not names:
        fail("description.trainingInput is empty; training needs the model inputs and the "
             "loss target")
    if not names.keys() & {f.name for f in description.input}:
        fail("description.trainingInput names none of the model inputs "
             f"({', '.join(f.name for f in description.input)})")
    target = body.target
    kind = field.rsplit(".", 1)[-1]
    if target in names:
        _check_target_type(names[target], kind, fail)
        return
    label = description.predictedFeatureName
    if spec.WhichOneof("Type") == "neuralNetworkClassifier" and label in names:
        output = next((f for f in description.output if f.name == label), None)
        want = output.type.WhichOneof("Type") if output is not None else None
        got = names[label].type.WhichOneof("Type")
        if want and got != want:
            fail(f"description.trainingInput {label!r} is {got}; the classifier's labels "
                 f"({label!r} output) are {want}")
        return
    fail(f"{field}.target {target!r} is not among description.trainingInput "
         f"({', '.join(names)})")


def _check_target_type(feature, loss_kind: str, fail) -> None:
    """A cross-entropy target is one class index (a multi-array or int64); an MSE target a
    multi-array."""
    got = feature.type.WhichOneof("Type")
    allowed = ("multiArrayType", "int64Type") if loss_kind == "categoricalCrossEntropyLossLayer" \
        else ("multiArrayType",)
    if got not in allowed:
        fail(f"description.trainingInput {feature.name!r} (the {loss_kind} target) is {got}; "
             f"expected {' or '.join(allowed)}")


def _check_optimizer(params, fail) -> None:
    kind = params.optimizer.WhichOneof("OptimizerType")
    if kind is None:
        fail("updateParams.optimizer sets no optimizer; expected sgdOptimizer or adamOptimizer")
    opt = getattr(params.optimizer, kind)
    fields = (("learningRate", "miniBatchSize", "momentum") if kind == "sgdOptimizer"
              else ("learningRate", "miniBatchSize", "beta1", "beta2", "eps"))
    for name in fields:
        where = f"updateParams.optimizer.{kind}.{name}"
        if not opt.HasField(name):
            fail(f"{where} is not set")
        check_parameter(getattr(opt, name), where, positive=name == "miniBatchSize",
                        fail=fail)
    if not params.HasField("epochs"):
        fail("updateParams.epochs is not set")
    check_parameter(params.epochs, "updateParams.epochs", positive=True, fail=fail)
    if params.HasField("seed"):
        check_parameter(params.seed, "updateParams.seed", positive=False, fail=fail)


def check_parameter(param, where: str, *, positive: bool, fail, value=None) -> None:
    """``value`` (default: the parameter's ``defaultValue``) against its allowed range or set;
    ``positive``: Int64Parameters that must be > 0."""
    value = param.defaultValue if value is None else value
    allowed = param.WhichOneof("AllowedValues")
    if positive and value <= 0:
        fail(f"{where} = {value}; expected a positive value")
    if allowed == "range":
        lo, hi = param.range.minValue, param.range.maxValue
        if positive and (lo <= 0 or hi <= 0):
            fail(f"{where}.range [{lo}, {hi}] must be positive")
        if lo > hi:
            fail(f"{where}.range minValue {lo} is greater than maxValue {hi}")
        if not lo <= value <= hi:
            fail(f"{where} = {value} is outside the allowed range [{lo}, {hi}]")
    elif allowed == "set":
        values = list(param.set.values)
        if positive and any(v <= 0 for v in values):
            fail(f"{where}.set {values} holds a non-positive value")
        if value not in values:
            fail(f"{where} = {value} is not in the allowed set {values}")


def _check_backprop_path(nn, fail) -> None:
    """Walk back from the loss input: no updatable layer above a layer without backprop."""
    loss = nn.updateParams.lossLayers[0]
    kind = loss.WhichOneof("LossLayerType")
    producers = _producers(nn)
    queue = [(getattr(loss, kind).input, None, kind == "categoricalCrossEntropyLossLayer")]
    seen = set()
    while queue:
        blob, blocked_by, softmax_ok = queue.pop(0)
        layer = producers.get(blob)
        if layer is None or layer.name in seen:
            continue
        seen.add(layer.name)
        if layer.isUpdatable and blocked_by is not None:
            fail(f"layer {blocked_by[0]!r} ({blocked_by[1]}) does not support backpropagation "
                 f"and lies between updatable layer {layer.name!r} and the loss {loss.name!r}")
        if blocked_by is None and not _backpropagable(layer, softmax_ok):
            blocked_by = (layer.name, layer.WhichOneof("layer"))
        queue.extend((name, blocked_by, False) for name in layer.input)


def _backpropagable(layer, softmax_ok: bool) -> bool:
    kind = layer.WhichOneof("layer")
    if kind == "softmax":
        return softmax_ok
    if kind == "activation":
        return layer.activation.WhichOneof("NonlinearityType") in BACKPROPAGABLE_ACTIVATIONS
    return kind in BACKPROPAGABLE
