"""Conversion-cache key parts of TensorFlow sources: what a conversion depends on.

- Keras models (tf_keras, Keras 3): the model class, the architecture (``get_config()`` where
  the model supports it, with generated layer names such as ``conv2d_4`` replaced by their
  position, since Keras numbers them per process; input layer names stay, they become Core ML
  input names), the source of every layer class's ``call`` and every weight's position,
  shape, dtype and bytes.
- Concrete functions and SavedModel signatures: the function's graph (deterministically
  serialized ``GraphDef``, which holds the computation and its constants) and the values of
  the variables it captures.

Two sources with equal parts convert alike; a part that cannot be read makes the parts
differ from run to run (never equal by accident), so the cache only misses.
"""

from __future__ import annotations

import json

import numpy as np

from ...convert.cache import method_source


def keras_parts(model) -> list:
    parts: list = [f"{type(model).__module__}.{type(model).__qualname__}"]
    try:
        parts.append(_positional_config(model.get_config()))
    except Exception:  # subclassed models have no config: their code and weights stand in
        parts.append(f"no config:{id(model)}")
    for cls in sorted({type(layer) for layer in _layers(model)}, key=lambda c: c.__qualname__):
        parts.append(_call_code(cls))
    for index, weight in enumerate(model.weights):
        value = np.asarray(weight.numpy())
        parts.append(f"weight {index}:{value.shape}:{value.dtype}")
        parts.append(value.tobytes())
    return parts


def _positional_config(config: dict) -> str:
    """The config as JSON with every non-input layer name replaced by ``layer<i>``."""
    names: dict[str, str] = {}

    def collect(node):
        if isinstance(node, dict):
            layer_config = node.get("config")
            if node.get("class_name") not in (None, "InputLayer") \
                    and isinstance(layer_config, dict):
                # Functional models name a layer beside its config, Sequential ones inside it
                name = node.get("name", layer_config.get("name"))
                if isinstance(name, str):
                    names.setdefault(name, f"layer{len(names)}")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    def rename(node):
        if isinstance(node, dict):
            return {key: rename(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rename(value) for value in node]
        return names.get(node, node) if isinstance(node, str) else node

    collect(config)
    return json.dumps(rename(config), sort_keys=True, default=str)


def function_parts(function) -> list:
    graph = function.graph.as_graph_def().SerializeToString(deterministic=True)
    parts: list = ["concrete function", graph]
    for variable in sorted(function.variables, key=lambda v: v.name):
        value = np.asarray(variable.numpy())
        parts.append(f"{variable.name}:{value.shape}:{value.dtype}")
        parts.append(value.tobytes())
    return parts


def _layers(model) -> list:
    """The model and every layer inside it, nested models included."""
    out, stack = [], [model]
    while stack:
        layer = stack.pop()
        out.append(layer)
        stack.extend(getattr(layer, "layers", None) or [])
    return out


def _call_code(cls) -> str:
    code = method_source(cls, "call")
    if code is None:
        return f"{cls.__module__}.{cls.__qualname__}"
    return f"{cls.__qualname__}:{code}"
