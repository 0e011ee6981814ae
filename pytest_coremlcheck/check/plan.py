"""Step 1 of a check: what will run. Resolves the source, the inputs and their shape cases,
the variant chain and the tolerance layers, before anything is converted or run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..compare.tolerance import Tolerance, split_tolerance
from ..convert.chain import BuiltModel
from ..convert.variants import Variant, resolve
from ..coreml.features import Feature, describe
from ..coreml.loading import load_model
from ..errors import CheckError, guarded
from ..inputs import InputSource, Sample, as_input_source
from ..inputs.shapes import label as shape_label
from ..inputs.shapes import shape_configs, with_shapes
from ..sources import Source, as_source
from ..sources.composed import ComposedSource


@dataclass
class Case:
    """The samples of one input-shape configuration (``label`` empty for a fixed-shape
    model)."""

    label: str
    samples: list[Sample]


@dataclass
class CheckPlan:
    """Everything decided before the first conversion: typed, so each later step reads it."""

    source: Source
    converted: Any  # a path, MLModel or spec; None: convert the source
    convert: dict[str, Any] | None
    input_source: InputSource
    order: list[str]  # input names as declared (the converted model's may differ)
    cases: list[Case]
    trace_feed: dict  # the sample a conversion traces with
    chain: list[Variant] | None
    requested: set[str] | None  # variants to report (their bases run too); None: all
    shared_tolerance: Tolerance | None
    per_variant: dict[str, Tolerance]
    marker_tolerance: Tolerance | None
    name: str | None

    def wants(self, model: BuiltModel) -> bool:
        """True when ``model``'s results are reported (not only run as another's base)."""
        return self.requested is None or model.name in self.requested

    def title(self, first: BuiltModel) -> str:
        """The check's name in reports: ``name``, else what was checked."""
        if self.name:
            return self.name
        if not self.chain:
            return first.label
        return "converted on the fly" if self.converted is None else first.loaded.name

    def tolerance_layers(self, default: Tolerance | None, model: BuiltModel) -> Tolerance:
        """Run-wide default < marker < the check's tolerance < the variant's own."""
        return Tolerance.layered(default, self.marker_tolerance, self.shared_tolerance,
                                 self.per_variant.get(model.name))

    def rename_inputs(self, actual: list[str]) -> None:
        """Key every sample by the converted model's input names (same order as declared)."""
        if self.order == actual:
            return
        if len(self.order) != len(actual):
            raise CheckError(f"the converted model has inputs {actual}, expected {self.order}")
        mapping = dict(zip(self.order, actual))
        for case in self.cases:
            for s in case.samples:
                s.coreml = {mapping[k]: v for k, v in s.coreml.items()}
                s.source = {mapping[k]: v for k, v in s.source.items()}


def make_plan(source, converted, *, inputs, convert, tolerance, name, marker_tolerance,
              variants, shapes, source_stages) -> CheckPlan:
    """The plan of one check (``run_check``'s arguments); CheckError names what is wrong."""
    if source_stages is not None:
        if source is not None:
            raise CheckError("pass either source or source_stages, not both")
        source = guarded("source stages", lambda: ComposedSource(source_stages))
    chain = guarded("variants", lambda: resolve(variants)) if variants else None
    shared, per_variant = guarded("tolerance", lambda: split_tolerance(
        tolerance, [v.name for v in chain] if chain else None))
    input_source = guarded("inputs", lambda: as_input_source(inputs))
    src = guarded("source model", lambda: as_source(source))
    features = _declared_features(converted, convert, input_source, src)
    cases = guarded("inputs", lambda: _cases(input_source, features, shapes))
    trace_feed = guarded("inputs", lambda: input_source.materialize(features)[0].source)
    return CheckPlan(src, converted, convert, input_source, [f.name for f in features], cases,
                     trace_feed, chain, set(_requested_names(variants)) if variants else None,
                     shared, per_variant, marker_tolerance, name)


def _declared_features(converted, convert, input_source, src: Source) -> list[Feature]:
    """The inputs of the model to check: from the converted file, else from ``convert``, an
    explicit feed, or the inputs the source declares (Keras input shapes, an
    ExportedProgram's example inputs)."""
    if converted is not None:
        loaded = guarded("converted model", lambda: load_model(converted))
        return describe(loaded.spec.description.input)
    from ..convert.on_the_fly import conversion_features

    features = guarded("convert", lambda: conversion_features(convert, input_source))
    if features is None:
        features = src.input_features()
    if features is None:
        raise CheckError("converting on the fly needs convert={'inputs': [ct.TensorType(...), "
                         "...]} or explicit inputs (a dict of arrays) to trace with: the source "
                         "declares no complete input shapes")
    return features


def _cases(input_source, features, shapes) -> list[Case]:
    configs = shape_configs(features, shapes)
    if configs == [{}]:
        return [Case("", input_source.materialize(features))]
    return [Case(shape_label(c), input_source.materialize(with_shapes(features, c)))
            for c in configs]


def _requested_names(variants) -> list[str]:
    if isinstance(variants, dict):
        return list(variants)
    names = []
    for entry in variants:
        names.extend(entry if isinstance(entry, dict) else [entry])
    return names
