"""A readable summary of an updatable NeuralNetwork (spec ≥ 4, ``isUpdatable``).

The executor runs updatable models and emulates their training (:mod:`.training`); their
training set-up is summarised here:

- ``training_inputs``: ``description.trainingInput`` (name and type of each feature);
- ``updatable_layers``: layers marked ``isUpdatable`` (name, type);
- ``losses``: ``updateParams.lossLayers`` — categorical cross-entropy
  ``L = −log(input[target])`` or mean squared error ``L = mean((input − target)²)``;
- ``optimizer``: SGD (learning rate, mini-batch size, momentum) or Adam (learning rate,
  mini-batch size, β1, β2, ε), each with its default and allowed range or set;
- ``epochs``, ``shuffle``, ``seed``.
"""

from __future__ import annotations

from typing import Any


def _network(spec):
    kind = spec.WhichOneof("Type")
    if kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        return getattr(spec, kind)
    return None


def training_summary(spec) -> dict[str, Any]:
    """Training inputs, loss layers, optimizer and hyper-parameters, epochs of ``spec``.

    Returns ``{"updatable": False}`` for a model that is not updatable.
    """
    nn = _network(spec)
    if not spec.isUpdatable or nn is None:
        return {"updatable": False}
    params = nn.updateParams
    summary: dict[str, Any] = {
        "updatable": True,
        "training_inputs": [_feature(f) for f in spec.description.trainingInput],
        "updatable_layers": [
            {"name": layer.name, "type": layer.WhichOneof("layer")}
            for layer in nn.layers if layer.isUpdatable
        ],
        "losses": [_loss(loss) for loss in params.lossLayers],
        "optimizer": _optimizer(params.optimizer),
        "epochs": _parameter(params.epochs) if params.HasField("epochs") else None,
    }
    if params.HasField("shuffle"):
        summary["shuffle"] = bool(params.shuffle.defaultValue)
    if params.HasField("seed"):
        summary["seed"] = _parameter(params.seed)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """``training_summary`` as a few human-readable lines."""
    if not summary.get("updatable"):
        return "not updatable"
    lines = ["updatable model (training emulated by ReferenceModel.update)"]
    inputs = ", ".join(f"{f['name']} ({f['type']})" for f in summary["training_inputs"])
    lines.append(f"training inputs: {inputs or '(none)'}")
    layers = ", ".join(f"{x['name']} ({x['type']})" for x in summary["updatable_layers"])
    lines.append(f"updatable layers: {layers or '(none)'}")
    for loss in summary["losses"]:
        lines.append(f"loss {loss['name']}: {loss['type']}(input={loss['input']}, "
                     f"target={loss['target']})")
    opt = summary["optimizer"]
    if opt:
        hyper = ", ".join(f"{k}={_text(v)}" for k, v in opt.items() if k != "type")
        lines.append(f"optimizer: {opt['type']} ({hyper})")
    if summary.get("epochs") is not None:
        lines.append(f"epochs: {_text(summary['epochs'])}")
    if "shuffle" in summary:
        lines.append(f"shuffle: {summary['shuffle']}")
    return "\n".join(lines)


def _text(param) -> str:
    if not isinstance(param, dict):
        return str(param)
    text = str(param["default"])
    if "range" in param:
        lo, hi = param["range"]
        text += f" in [{lo}, {hi}]"
    if "allowed" in param:
        text += f" of {param['allowed']}"
    return text


def _feature(fd) -> dict[str, Any]:
    kind = fd.type.WhichOneof("Type") or "unknown"
    info: dict[str, Any] = {"name": fd.name, "type": kind.removesuffix("Type")}
    if kind == "multiArrayType":
        info["shape"] = [int(d) for d in fd.type.multiArrayType.shape]
    elif kind == "imageType":
        info["size"] = [int(fd.type.imageType.width), int(fd.type.imageType.height)]
    return info


def _loss(loss) -> dict[str, Any]:
    kind = loss.WhichOneof("LossLayerType")
    names = {
        "categoricalCrossEntropyLossLayer": "categorical_cross_entropy",
        "meanSquaredErrorLossLayer": "mean_squared_error",
    }
    body = getattr(loss, kind) if kind else None
    return {
        "name": loss.name,
        "type": names.get(kind, kind or "unknown"),
        "input": body.input if body is not None else "",
        "target": body.target if body is not None else "",
    }


def _optimizer(optimizer) -> dict[str, Any]:
    kind = optimizer.WhichOneof("OptimizerType")
    if kind == "sgdOptimizer":
        o = optimizer.sgdOptimizer
        return {"type": "sgd", "learning_rate": _parameter(o.learningRate),
                "mini_batch_size": _parameter(o.miniBatchSize),
                "momentum": _parameter(o.momentum)}
    if kind == "adamOptimizer":
        o = optimizer.adamOptimizer
        return {"type": "adam", "learning_rate": _parameter(o.learningRate),
                "mini_batch_size": _parameter(o.miniBatchSize), "beta1": _parameter(o.beta1),
                "beta2": _parameter(o.beta2), "eps": _parameter(o.eps)}
    return {}


def _parameter(param) -> dict[str, Any]:
    """A Double/Int64Parameter as {default, range: [min, max] | allowed: [...]}."""
    out: dict[str, Any] = {"default": param.defaultValue}
    allowed = param.WhichOneof("AllowedValues") if hasattr(param, "WhichOneof") else None
    if allowed == "range":
        out["range"] = [param.range.minValue, param.range.maxValue]
    elif allowed == "set":
        out["allowed"] = list(param.set.values)
    return out
