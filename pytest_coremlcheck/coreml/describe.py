"""Facts about a Core ML spec read from the protobuf alone (no program loading): compute
precision, model kind, a pipeline's stages, a classifier's outputs and class labels."""

from __future__ import annotations

from dataclasses import dataclass

from .enums import MIL_FLOAT16

#: Model types (the spec's ``Type`` oneof) that hold a ``Pipeline`` of stage models.
PIPELINE_KINDS = ("pipeline", "pipelineClassifier", "pipelineRegressor")


def model_kind(spec) -> str:
    """``mlProgram``, ``neuralNetwork``, ``pipeline``… (the spec's Type oneof)."""
    return spec.WhichOneof("Type") or "unknown"


def pipeline_of(spec):
    """The ``Pipeline`` message (``models``, ``names``) of a pipeline, pipeline classifier or
    pipeline regressor; None for any other model type."""
    kind = spec.WhichOneof("Type")
    if kind not in PIPELINE_KINDS:
        return None
    message = getattr(spec, kind)
    return message if kind == "pipeline" else message.pipeline


def pipeline_stages(spec) -> list:
    """The stage specs of a pipeline in order; empty for any other model type."""
    pipeline = pipeline_of(spec)
    return list(pipeline.models) if pipeline is not None else []


def compute_precision(spec, function: str | None = None) -> str:
    """``"fp16"`` when an ML program computes any op output in fp16, else ``"fp32"``.

    ``function``: only that function of the program (the one a run executes), else any.
    NeuralNetwork specs declare no precision (Core ML picks per device): ``"fp32"``.
    Pipelines are fp16 when any stage is.
    """
    kind = spec.WhichOneof("Type")
    if kind == "mlProgram":
        functions = spec.mlProgram.functions
        chosen = [functions[function]] if function is not None else functions.values()
        fp16 = any(_block_has_fp16(block) for f in chosen
                   for block in f.block_specializations.values())
        return "fp16" if fp16 else "fp32"
    if kind in PIPELINE_KINDS:
        stages = pipeline_stages(spec)
        return "fp16" if any(compute_precision(m) == "fp16" for m in stages) else "fp32"
    return "fp32"


def _block_has_fp16(block) -> bool:
    for op in block.operations:
        for out in op.outputs:
            tensor = out.type.tensorType if out.type.WhichOneof("type") == "tensorType" else None
            if tensor is not None and tensor.dataType == MIL_FLOAT16:
                return True
        for nested in op.blocks:
            if _block_has_fp16(nested):
                return True
    return False


@dataclass(frozen=True)
class ClassifierOutputs:
    """Names of a classifier's label and probability outputs, and its class labels."""

    label: str
    probabilities: str
    labels: list | None


def describe_classifier(spec) -> ClassifierOutputs | None:
    """The classifier outputs of a spec, or None when it is not a classifier."""
    desc = spec.description
    if not desc.predictedFeatureName:
        return None
    return ClassifierOutputs(desc.predictedFeatureName, desc.predictedProbabilitiesName,
                             class_labels(spec))


def class_labels(spec) -> list | None:
    """Class labels in probability order: a NeuralNetwork classifier's label list, the
    ``classes`` of an ML program's ``classify`` op, or, for a pipeline, those of the stage that
    produces its predicted label; None when none is found."""
    kind = spec.WhichOneof("Type")
    if kind in PIPELINE_KINDS:
        return _pipeline_labels(spec)
    if kind == "neuralNetworkClassifier":
        nn = spec.neuralNetworkClassifier
        which = nn.WhichOneof("ClassLabels")
        if which == "stringClassLabels":
            return [str(v) for v in nn.stringClassLabels.vector]
        if which == "int64ClassLabels":
            return [int(v) for v in nn.int64ClassLabels.vector]
        return None
    if kind == "mlProgram":
        for function in spec.mlProgram.functions.values():
            for block in function.block_specializations.values():
                for op in block.operations:
                    if op.type == "classify" and "classes" in op.inputs:
                        return _classify_labels(op.inputs["classes"])
    return None


def _pipeline_labels(spec) -> list | None:
    """Labels of the last stage that outputs the pipeline's predicted label (or the last stage
    that has labels when the pipeline declares none)."""
    wanted = spec.description.predictedFeatureName
    for stage in reversed(pipeline_stages(spec)):
        outputs = {f.name for f in stage.description.output}
        if wanted and wanted not in outputs:
            continue
        labels = class_labels(stage)
        if labels is not None:
            return labels
    return None


def _classify_labels(argument) -> list | None:
    for binding in argument.arguments:
        if not binding.HasField("value"):
            continue
        values = []
        for item in binding.value.immediateValue.list.values:
            tensor = item.immediateValue.tensor
            if tensor.strings.values:
                values.extend(str(v) for v in tensor.strings.values)
            elif tensor.longInts.values:
                values.extend(int(v) for v in tensor.longInts.values)
            elif tensor.ints.values:
                values.extend(int(v) for v in tensor.ints.values)
        return values or None
    return None
