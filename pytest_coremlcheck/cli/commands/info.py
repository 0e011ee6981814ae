"""Describe a Core ML model: type, spec version, inputs, outputs, precision, ops."""

from __future__ import annotations

import argparse
import json
from collections import Counter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="path to an .mlpackage or .mlmodel")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def describe_model(path) -> dict:
    from ...coreml.describe import compute_precision, model_kind
    from ...coreml.features import describe
    from ...coreml.loading import load_model

    loaded = load_model(path)
    spec = loaded.spec
    info = {
        "model": loaded.name,
        "type": model_kind(spec),
        "specification_version": spec.specificationVersion,
        "precision": compute_precision(spec),
        "inputs": [_feature(f) for f in describe(spec.description.input)],
        "outputs": [_feature(f) for f in describe(spec.description.output)],
        "metadata": dict(spec.description.metadata.userDefined),
    }
    if spec.WhichOneof("Type") == "mlProgram":
        ops: Counter = Counter()
        for function in spec.mlProgram.functions.values():
            for block in function.block_specializations.values():
                _count_ops(block, ops)
        info["functions"] = list(spec.mlProgram.functions)
        info["opsets"] = sorted({opset for f in spec.mlProgram.functions.values()
                                 for opset in f.block_specializations})
        info["ops"] = dict(ops.most_common())
    return info


def _count_ops(block, ops: Counter) -> None:
    for op in block.operations:
        ops[op.type] += 1
        for nested in op.blocks:
            _count_ops(nested, ops)


def _feature(f) -> dict:
    out = {"name": f.name, "kind": f.kind}
    if f.kind in ("array", "image", "state"):
        out["shape"] = list(f.shape)
    if f.kind == "array" and f.dtype is not None:
        out["dtype"] = str(f.dtype)
    if f.color:
        out["color"] = f.color
    if f.flexible:
        out["flexible"] = f.expected_shape_text()
    return out


def run(args: argparse.Namespace) -> int:
    info = describe_model(args.model)
    if args.format == "json":
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['model']}: {info['type']}, specification version "
          f"{info['specification_version']}, {info['precision']}")
    for label in ("inputs", "outputs"):
        print(f"{label}:")
        for f in info[label]:
            extra = " ".join(f"{k}={v}" for k, v in f.items() if k not in ("name", "kind"))
            print(f"  {f['name']}: {f['kind']} {extra}")
    if "ops" in info:
        print(f"opsets: {', '.join(info['opsets'])}")
        print("ops: " + ", ".join(f"{k}×{v}" for k, v in info["ops"].items()))
    return 0
