"""``ct.convert`` arguments written as a TOML table.

Strings become coremltools objects: ``minimum_deployment_target = "iOS16"`` → ``ct.target.iOS16``,
``compute_precision = "float16"`` → ``ct.precision.FLOAT16``, each ``inputs``/``outputs`` entry
``{name, shape, dtype}`` → ``ct.TensorType`` or, with ``type = "image"`` (keys ``scale``,
``bias``, ``color_layout``, ``channel_first``), ``ct.ImageType``; ``classifier_config =
{class_labels = [...]}`` → ``ct.ClassifierConfig``. Shapes are fixed lists of integers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KEYS = ("inputs", "outputs", "classifier_config", "minimum_deployment_target", "convert_to",
        "compute_precision", "source")
TENSOR_KEYS = {"type", "name", "shape", "dtype"}
IMAGE_KEYS = {"type", "name", "shape", "scale", "bias", "color_layout", "channel_first"}


def convert_kwargs(table: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``ct.convert``; ValueError names the key and the valid values."""
    import coremltools as ct

    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; valid keys are {', '.join(KEYS)}")
    out = dict(table)
    if "minimum_deployment_target" in table:
        out["minimum_deployment_target"] = _member(ct.target, table["minimum_deployment_target"],
                                                   "minimum_deployment_target")
    if "compute_precision" in table:
        out["compute_precision"] = _member(ct.precision, str(table["compute_precision"]).upper(),
                                           "compute_precision")
    for key in ("inputs", "outputs"):
        if key in table:
            entries = table[key]
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ValueError(f"{key} must be a list of tables such as "
                                 "{ name = \"x\", shape = [1, 3, 32, 32] }")
            out[key] = [_feature_type(e, f"{key}[{i}]", needs_shape=key == "inputs")
                        for i, e in enumerate(entries)]
    if "classifier_config" in table:
        config = table["classifier_config"]
        if not isinstance(config, dict) or "class_labels" not in config:
            raise ValueError("classifier_config must be a table with class_labels")
        out["classifier_config"] = ct.ClassifierConfig(**config)
    return out


def _member(enum, value, key: str):
    members = list(enum.__members__)
    if not isinstance(value, str) or value not in members:
        raise ValueError(f"{key} = {value!r}; expected one of {', '.join(members)}")
    return enum[value]


def _feature_type(entry: dict[str, Any], where: str, needs_shape: bool):
    import coremltools as ct

    kind = entry.get("type", "tensor")
    if kind not in ("tensor", "image"):
        raise ValueError(f"{where}: type = {kind!r}; expected \"tensor\" or \"image\"")
    allowed = IMAGE_KEYS if kind == "image" else TENSOR_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} for a {kind}; valid "
                         f"keys are {', '.join(sorted(allowed))}")
    args = {k: v for k, v in entry.items() if k != "type"}
    shape = args.get("shape")
    if shape is not None and (not isinstance(shape, list)
                              or not all(isinstance(d, int) and d > 0 for d in shape)):
        raise ValueError(f"{where}: shape must be a list of positive integers, got {shape!r}")
    if needs_shape and shape is None:
        raise ValueError(f"{where}: missing key 'shape'")
    if shape is not None:
        args["shape"] = tuple(shape)
    if kind == "image":
        if "color_layout" in args:
            args["color_layout"] = _member(ct.colorlayout, args["color_layout"],
                                           f"{where}: color_layout")
        return ct.ImageType(**args)
    if "dtype" in args:
        try:
            args["dtype"] = np.dtype(args["dtype"]).type
        except TypeError:
            raise ValueError(f"{where}: dtype {args['dtype']!r} is not a numpy dtype name "
                             "such as \"float32\" or \"int32\"") from None
    return ct.TensorType(**args)
