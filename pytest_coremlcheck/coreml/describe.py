"""Facts about a Core ML spec read from the protobuf alone (no program loading)."""

from __future__ import annotations

_FP16 = 10  # MILSpec.DataType.FLOAT16


def compute_precision(spec) -> str:
    """``"fp16"`` when an ML program computes any op output in fp16, else ``"fp32"``.

    NeuralNetwork specs declare no precision (Core ML picks per device): ``"fp32"``.
    Pipelines are fp16 when any stage is.
    """
    kind = spec.WhichOneof("Type")
    if kind == "mlProgram":
        for function in spec.mlProgram.functions.values():
            for block in function.block_specializations.values():
                if _block_has_fp16(block):
                    return "fp16"
        return "fp32"
    if kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        pipeline = getattr(spec, kind)
        models = pipeline.models if kind == "pipeline" else pipeline.pipeline.models
        return "fp16" if any(compute_precision(m) == "fp16" for m in models) else "fp32"
    return "fp32"


def _block_has_fp16(block) -> bool:
    for op in block.operations:
        for out in op.outputs:
            tensor = out.type.tensorType if out.type.WhichOneof("type") == "tensorType" else None
            if tensor is not None and tensor.dataType == _FP16:
                return True
        for nested in op.blocks:
            if _block_has_fp16(nested):
                return True
    return False


def model_kind(spec) -> str:
    """``mlProgram``, ``neuralNetwork``, ``pipeline``… (the spec's Type oneof)."""
    return spec.WhichOneof("Type") or "unknown"
