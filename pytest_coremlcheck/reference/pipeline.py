"""Pipeline models (``pipeline``, ``pipelineClassifier``, ``pipelineRegressor``), stage by stage.

Each stage is a whole model — an ML program, a NeuralNetwork, a nested pipeline or a linked
model — and runs on its own engine, built by the same dispatch as a top-level model. Stages
run in order; data flows by feature name: a stage's inputs come from the pipeline's inputs or
from earlier stages' outputs, and the pipeline's outputs are read from the same pool.

At each boundary a value is first *materialised* as the producing feature declares it (an
fp16 multi-array stays fp16, an image output becomes 8-bit pixels) and then *converted* to what
the consuming feature declares (see :mod:`.boundary`). Declarations that differ — which Core ML's
pipeline validator rejects — are converted anyway and reported in ``notes``.

Stages of an ``.mlpackage`` pipeline share the package's one ``weights`` directory: every stage
program names its blob files as ``@model_path/weights/<file>``.

A classifier pipeline returns its last stage's classifier outputs (label and
``{label: probability}``) unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..coreml.describe import PIPELINE_KINDS, pipeline_of
from ..coreml.features import Feature, describe
from ..coreml.loading import LoadedModel
from . import boundary
from .engine import Engine
from .errors import ExecutionError, ModelLoadError

#: Marks a feature that comes from the pipeline's own inputs in ``StageInfo.input_sources``.
PIPELINE_INPUT = "<pipeline input>"


@dataclass(frozen=True)
class StageInfo:
    """What one stage is and what crosses its boundaries.

    ``kind`` is the stage's model type (for a linked stage, the linked file's type, with
    ``linked_path`` set). ``input_sources`` maps each input to the stage that produces it
    (``PIPELINE_INPUT`` for the pipeline's inputs). Types are ``float16``/``float32``/… for
    multi-arrays, ``image RGB``/``image BGR``/``image GRAYSCALE``… for images, else the feature
    kind (``int64``, ``double``, ``string``, ``dictionary``). ``stages`` lists a nested (or
    linked) pipeline's own stages.
    """

    index: int
    name: str
    kind: str
    precision: str
    mode_label: str
    input_types: dict[str, str]
    output_types: dict[str, str]
    input_sources: dict[str, str]
    linked_path: str | None = None
    stages: tuple[StageInfo, ...] = ()

    def producer(self, name: str) -> str | None:
        """The stage that produces input ``name``; None for the pipeline's own inputs."""
        source = self.input_sources[name]
        return None if source == PIPELINE_INPUT else source

    @property
    def output_dtypes(self) -> dict[str, str]:
        """Alias of ``output_types``: the declared type of each output."""
        return self.output_types

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "kind": self.kind,
                "precision": self.precision, "mode": self.mode_label,
                "input_types": dict(self.input_types), "output_types": dict(self.output_types),
                "input_sources": dict(self.input_sources), "linked_path": self.linked_path,
                "stages": [s.to_dict() for s in self.stages]}


@dataclass(frozen=True)
class Boundary:
    """One feature handed from a producer (a stage, or the pipeline's inputs) to a consumer (a
    stage, or the pipeline's outputs), with the type each side declares."""

    feature: str
    producer: str
    consumer: str
    produced_type: str
    consumed_type: str
    mismatch: str = ""

    def describe(self) -> str:
        text = (f"{self.feature}: {self.producer} ({self.produced_type}) -> {self.consumer} "
                f"({self.consumed_type})")
        return text + (f" [converted: {self.mismatch}]" if self.mismatch else "")

    def to_dict(self) -> dict:
        return {"feature": self.feature, "producer": self.producer, "consumer": self.consumer,
                "produced_type": self.produced_type, "consumed_type": self.consumed_type,
                "mismatch": self.mismatch}


@dataclass
class _Stage:
    name: str
    kind: str
    engine: object
    inputs: list[Feature]
    outputs: list[Feature]
    sources: dict[str, tuple[str, Feature]] = field(default_factory=dict)


class PipelineEngine(Engine):
    """Builds one engine per stage and runs them in order, passing features by name.

    ``precision`` is ``"fp16"`` when any stage computes in fp16; ``mode_label`` names each
    stage's mode. After a run, ``stage_outputs`` holds each stage's outputs as
    ``MLModel.predict`` would return them (keyed by stage name). ``stages`` describes the
    stages, ``boundaries`` every feature that crosses one, ``notes`` anything worth reporting
    (linked files that replaced compiled ones, converted type mismatches).
    """

    def __init__(self, loaded: LoadedModel, engine_for, *, fp16_mode: str = "typed",
                 nn_precision: str = "fp32", bundle_dirs: dict[str, str] | None = None):
        """``engine_for`` builds each stage's engine (``engines.engine_for``)."""
        self.name = loaded.name
        self.kind = loaded.spec.WhichOneof("Type")
        if self.kind not in PIPELINE_KINDS:
            raise ModelLoadError(f"{self.name}: not a pipeline (model type {self.kind!r})")
        pipeline = pipeline_of(loaded.spec)
        names = stage_names(pipeline, self.name)
        self.inputs = describe(loaded.spec.description.input)
        self.outputs = describe(loaded.spec.description.output)
        self.notes: list[str] = []
        self.boundaries: list[Boundary] = []
        self.stage_outputs: dict[str, dict] = {}
        self._stages: list[_Stage] = []
        self._output_sources: dict[str, tuple[str, Feature]] = {}

        # Wire every stage first (like Core ML's pipeline validator), then load the engines.
        self._wire_stages(pipeline, names)
        for stage, spec in zip(self._stages, pipeline.models):
            where = f"{self.name} [stage {stage.name!r}]"
            stage_loaded = LoadedModel(spec, loaded.weights_dir, where, loaded.path,
                                       loaded.files())
            stage.engine = engine_for(stage_loaded, fp16_mode, None, nn_precision,
                                       bundle_dirs=bundle_dirs)
            self.notes.extend(stage.engine.notes)
        self.precision = ("fp16" if any(s.engine.precision == "fp16" for s in self._stages)
                          else "fp32")
        self.mode_label = "pipeline [" + "; ".join(
            f"{s.name}: {s.engine.mode_label}" for s in self._stages) + "]"

    def _wire_stages(self, pipeline, names: list[str]) -> None:
        """Find where every stage input and pipeline output comes from, or raise."""
        pool = {f.name: (PIPELINE_INPUT, f) for f in self.inputs}
        later = _later_producers(pipeline, names)
        for index, (name, spec) in enumerate(zip(names, pipeline.models)):
            where = f"{self.name} [stage {name!r}]"
            stage = _Stage(name, spec.WhichOneof("Type"), None, describe(spec.description.input),
                           describe(spec.description.output))
            if stage.kind is None:
                raise ModelLoadError(f"{where}: the stage has no model type")
            if spec.description.state:
                raise ModelLoadError(f"{where}: the stage declares state(s) "
                                     f"{', '.join(s.name for s in spec.description.state)}; "
                                     "stateful models cannot run inside a pipeline")
            for feature in stage.inputs:
                stage.sources[feature.name] = self._wire(feature, pool, name, where,
                                                         later.get(feature.name, {}), index)
            for feature in stage.outputs:
                pool[feature.name] = (name, feature)
            self._stages.append(stage)
        for feature in self.outputs:
            if feature.name not in pool:
                raise ModelLoadError(
                    f"{self.name}: pipeline output {feature.name!r} is not produced by any stage "
                    f"nor a pipeline input (available: {', '.join(sorted(pool)) or 'none'})")
            self._output_sources[feature.name] = self._check(
                feature, pool[feature.name], "pipeline output", f"{self.name}: pipeline output "
                f"{feature.name!r}")

    def _wire(self, feature: Feature, pool: dict, stage: str, where: str,
              later: dict, index: int) -> tuple[str, Feature]:
        """Where a stage input comes from; errors name the stage, the feature and what exists."""
        if feature.name not in pool:
            if feature.optional:
                return (PIPELINE_INPUT, feature)
            produced_later = [name for name, position in later.items() if position > index]
            hint = (f"; it is produced only by the later stage(s) {', '.join(produced_later)}"
                    if produced_later else "")
            raise ModelLoadError(
                f"{where}: input {feature.name!r} is neither a pipeline input nor an output of "
                f"an earlier stage (available: {', '.join(sorted(pool)) or 'none'}){hint}")
        return self._check(feature, pool[feature.name], stage, f"{where}: input "
                           f"{feature.name!r}")

    def _check(self, feature: Feature, source: tuple[str, Feature], consumer: str,
               where: str) -> tuple[str, Feature]:
        producer, produced = source
        if not boundary.convertible(produced, feature):
            raise ModelLoadError(f"{where}: declared {boundary.type_text(feature)}, but "
                                 f"{producer} provides {boundary.type_text(produced)}")
        difference = boundary.mismatch(produced, feature) or ""
        if difference:
            self.notes.append(f"{where}: declared {boundary.type_text(feature)} but {producer} "
                              f"provides {boundary.type_text(produced)} ({difference}); values "
                              "are converted (Core ML's pipeline validator requires matching "
                              "types)")
        self.boundaries.append(Boundary(feature.name, producer, consumer,
                                        boundary.type_text(produced),
                                        boundary.type_text(feature), difference))
        return source

    @property
    def stages(self) -> list[StageInfo]:
        """Each stage's name, kind, precision, mode, types and input sources."""
        infos = []
        for index, stage in enumerate(self._stages):
            engine = stage.engine
            linked = engine.linked_path
            infos.append(StageInfo(
                index=index, name=stage.name, kind=engine.kind or stage.kind,
                precision=engine.precision, mode_label=engine.mode_label,
                input_types={f.name: boundary.type_text(f) for f in stage.inputs},
                output_types={f.name: boundary.type_text(f) for f in stage.outputs},
                input_sources={n: src for n, (src, _) in stage.sources.items()},
                linked_path=str(linked) if linked is not None else None,
                stages=tuple(engine.stages)))
        return infos

    def watch_hazards(self, screen: bool = False) -> _PipelineHazardWatch:
        """Start every stage's hazard watch; hazards are located by stage."""
        watches = []
        for stage in self._stages:
            watch = stage.engine.watch_hazards(screen)
            if watch is not None:
                watches.append((stage.name, watch))
        return _PipelineHazardWatch(watches)

    def run(self, feeds: dict, state=None) -> dict:
        """One prediction: feeds and result in engine form, keyed by feature name."""
        pool = {f.name: feeds[f.name] for f in self.inputs if f.name in feeds}
        stage_outputs = {}
        for stage in self._stages:
            stage_feeds = {}
            for feature in stage.inputs:
                producer, produced = stage.sources[feature.name]
                if feature.name not in pool:
                    if feature.optional:
                        continue
                    raise ExecutionError(f"{self.name} [stage {stage.name!r}]: no value for "
                                         f"input {feature.name!r}")
                where = f"{self.name} [stage {stage.name!r}]: input {feature.name!r}"
                stage_feeds[feature.name] = boundary.convert(pool[feature.name], produced,
                                                             feature, where)
            raw = stage.engine.run(stage_feeds, None)
            outputs = {}
            for feature in stage.outputs:
                where = f"{self.name} [stage {stage.name!r}]: output {feature.name!r}"
                if feature.name not in raw:
                    raise ExecutionError(f"{where}: the stage produced no value for it")
                value = boundary.materialise(raw[feature.name], feature, where)
                pool[feature.name] = value
                outputs[feature.name] = boundary.to_predict_form(value, feature)
            stage_outputs[stage.name] = outputs
        self.stage_outputs = stage_outputs
        result = {}
        for feature in self.outputs:
            if feature.name not in pool:
                raise ExecutionError(f"{self.name}: no value for pipeline output "
                                     f"{feature.name!r} (optional input not given?)")
            _, produced = self._output_sources[feature.name]
            where = f"{self.name}: pipeline output {feature.name!r}"
            result[feature.name] = boundary.convert(pool[feature.name], produced, feature, where)
        return result


class _PipelineHazardWatch:
    """The hazard watches of a pipeline's stages; each hazard's location names its stage."""

    def __init__(self, watches: list[tuple[str, object]]):
        self.watches = watches

    def hazards(self) -> list:
        found = []
        for stage, watch in self.watches:
            for hazard in watch.hazards():
                location = f"stage {stage!r}" + (f", {hazard.location}" if hazard.location
                                                 else "")
                found.append(replace(hazard, location=location))
        return found


def stage_names(pipeline, where: str) -> list[str]:
    """``pipeline.names`` when given (one per model, unique), else ``stage0``, ``stage1``…"""
    count = len(pipeline.models)
    if count == 0:
        raise ModelLoadError(f"{where}: the pipeline contains no models")
    names = list(pipeline.names)
    if not names:
        return [f"stage{i}" for i in range(count)]
    if len(names) != count:
        raise ModelLoadError(f"{where}: the pipeline names {len(names)} stage(s) "
                             f"({', '.join(names)}) but contains {count} model(s)")
    seen = set()
    for name in names:
        if name in seen:
            raise ModelLoadError(f"{where}: stage name {name!r} is used twice")
        seen.add(name)
    return names


def _later_producers(pipeline, names: list[str]) -> dict[str, dict[str, int]]:
    """feature name -> {stage name: position} of every stage that outputs it."""
    producers: dict[str, dict[str, int]] = {}
    for index, (name, spec) in enumerate(zip(names, pipeline.models)):
        for fd in spec.description.output:
            producers.setdefault(fd.name, {})[name] = index
    return producers
