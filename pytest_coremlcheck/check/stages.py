"""A pipeline checked against ``source_stages``: each converted stage against its own source
stage, both fed exactly what the converted stage received (reference executor)."""

from __future__ import annotations

from ..compare.tolerance import Tolerance
from ..compare.verdict import as_array, compare_outputs
from ..convert.chain import BuiltModel
from ..coreml.describe import pipeline_stages
from ..coreml.features import describe
from ..errors import CheckError, guarded
from ..runtimes import Runtime
from ..sources.composed import ComposedSource
from .plan import Case
from .result import EquivalenceResult


def stage_results(src: ComposedSource, model: BuiltModel, runtime: Runtime, case: Case,
                  stage_outputs: list[dict], whole: EquivalenceResult,
                  tolerance: Tolerance) -> list[EquivalenceResult]:
    """One result per stage; ``stage_outputs`` holds, per sample, the converted pipeline's
    outputs of every stage (stage name -> outputs)."""
    stages = runtime.stages()
    if len(stages) != len(src.stages):
        raise CheckError(f"{model.label}: the pipeline has {len(stages)} stage(s) "
                         f"({', '.join(s.name for s in stages)}), source_stages has "
                         f"{len(src.stages)}")
    specs = pipeline_stages(model.loaded.spec)
    outputs_of = {stage.name: describe(spec.description.output)
                  for stage, spec in zip(stages, specs)}
    results = []
    for index, stage in enumerate(stages):
        source_outputs, converted = [], []
        for sample, produced in zip(case.samples, stage_outputs):
            values = [_stage_input(stage, name, sample, produced, outputs_of)
                      for name in stage.input_types]
            source_outputs.append(guarded(f"source stage {index} ({stage.name})",
                                          lambda v=values, i=index: src.run_stage(i, v)))
            converted.append(produced[stage.name])
        results.append(EquivalenceResult(
            name=f"{whole.name} [stage {index}: {stage.name}]",
            backend=whole.backend, platform=whole.platform,
            tolerance=tolerance,
            output_results=compare_outputs(outputs_of[stage.name], source_outputs, converted,
                                           tolerance, f"{model.label} stage {stage.name!r}"),
            source=src.stages[index].describe(), model=f"{model.label}, stage {stage.name!r}",
            inputs=whole.inputs, precision=stage.precision, shape=whole.shape,
            model_hash=whole.model_hash, inputs_hash=whole.inputs_hash,
            notes=["outputs declared " + ", ".join(f"{k}: {v}"
                                                   for k, v in stage.output_types.items())]))
    return results


def _stage_input(stage, name: str, sample, produced: dict, outputs_of: dict):
    """What stage input ``name`` received: the sample's input, or a converted stage's output
    as an array."""
    producer = stage.producer(name)
    if producer is None:
        return sample.source[name]
    feature = next(f for f in outputs_of[producer] if f.name == name)
    return as_array(produced[producer][name], feature)

