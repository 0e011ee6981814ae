"""The converted models a check runs: the given or converted model, or a variant chain
(fp32 → fp16 → compressed), each built once and cached on disk."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..coreml.loading import LoadedModel, load_model
from ..errors import CheckError
from .cache import ConversionCache, canonical
from .on_the_fly import convert_source
from .variants import TARGET_NAMES, Variant, build, required_spec, to_fp16


@dataclass
class BuiltModel:
    """A model to run: what it is, where it came from and what happened building it."""

    name: str  # "model" or the variant name
    model: Any  # a path, an MLModel or a spec
    loaded: LoadedModel
    label: str
    variant: Variant | None = None
    notes: list[str] = field(default_factory=list)
    cached: bool = False


@dataclass
class ChainInputs:
    """What building needs: the source, how to convert, a traced example feed."""

    source: Any
    converted: Any
    convert: dict[str, Any] | None
    feed: dict[str, np.ndarray]
    order: list[str]
    cache: ConversionCache


def build_models(inputs: ChainInputs, variants: list[Variant] | None) -> list[BuiltModel]:
    """The single model to check, or every model of the variant chain (bases first)."""
    if not variants:
        return [_single(inputs)]
    target_spec = required_spec(variants)
    built: dict[str, BuiltModel] = {}
    for variant in variants:
        if variant.name == "fp32":
            built["fp32"] = _fp32(inputs, target_spec, variant)
        elif variant.name == "fp16":
            built["fp16"] = _fp16(inputs, target_spec, variant, built.get("fp32"))
        else:
            base = built[variant.base]
            key = _variant_key(inputs, target_spec,
                               [f"variant:{variant.name}", canonical(variant.build)])
            model, notes, hit = _get_or_build(inputs.cache, key,
                                              lambda v=variant, b=base: build(v, b.model))
            built[variant.name] = BuiltModel(variant.name, model, load_model(model),
                                             f"{variant.name} of the {base.name} model", variant,
                                             notes, hit)
    return list(built.values())


def _single(inputs: ChainInputs) -> BuiltModel:
    if inputs.converted is not None:
        loaded = load_model(inputs.converted)
        return BuiltModel("model", inputs.converted, loaded, loaded.name)
    return _converted(inputs, inputs.convert, "model", None)


def converted_model(inputs: ChainInputs):
    """The source converted with ``inputs.convert`` (an MLModel), through the cache."""
    return _converted(inputs, inputs.convert, "model", None).model


def _converted(inputs: ChainInputs, convert: dict | None, name: str,
               variant: Variant | None) -> BuiltModel:
    def convert_now():
        notes: list[str] = []
        return convert_source(inputs.source, convert, inputs.feed, inputs.order, notes), notes

    parts = inputs.source.fingerprint(inputs.feed, inputs.order)
    key = None if parts is None else parts + [canonical(convert), canonical(
        {k: (v.shape, str(v.dtype)) for k, v in inputs.feed.items()})]
    model, notes, hit = _get_or_build(inputs.cache, key, convert_now)
    loaded = load_model(model)
    target = (convert or {}).get("minimum_deployment_target")
    label = f"converted on the fly ({loaded.spec.WhichOneof('Type')}" + (
        f", {getattr(target, 'name', target)})" if target else ")")
    if name != "model":
        label = f"{name}, {label}"
    return BuiltModel(name, model, loaded, label, variant, notes, hit)


def _with_precision(inputs: ChainInputs, target_spec: int, precision: str) -> dict:
    import coremltools as ct

    convert = copy.deepcopy(inputs.convert or {})
    declared = convert.get("minimum_deployment_target")
    if declared is not None and int(declared.value) < target_spec:
        raise CheckError(f"the requested variants need minimum_deployment_target "
                         f"{TARGET_NAMES[target_spec]} or newer; convert= asks for "
                         f"{declared.name}")
    if declared is None and target_spec > 6:
        convert["minimum_deployment_target"] = next(t for t in ct.target
                                                     if t.value == target_spec)
    convert["convert_to"] = "mlprogram"
    convert["compute_precision"] = getattr(ct.precision, precision)
    return convert


def _fp32(inputs: ChainInputs, target_spec: int, variant: Variant) -> BuiltModel:
    if inputs.converted is not None:
        loaded = load_model(inputs.converted)
        return BuiltModel("fp32", inputs.converted, loaded, loaded.name, variant)
    return _converted(inputs, _with_precision(inputs, target_spec, "FLOAT32"), "fp32", variant)


def _fp16(inputs: ChainInputs, target_spec: int, variant: Variant,
          fp32: BuiltModel | None) -> BuiltModel:
    if inputs.converted is None:
        return _converted(inputs, _with_precision(inputs, target_spec, "FLOAT16"), "fp16",
                          variant)
    base = fp32.model if fp32 is not None else inputs.converted
    key = _variant_key(inputs, target_spec, ["variant:fp16"])
    model, notes, hit = _get_or_build(inputs.cache, key, lambda: (_as_fp16(base), []))
    return BuiltModel("fp16", model, load_model(model), "fp16 of the fp32 model", variant,
                      notes, hit)


def _as_fp16(model):
    import coremltools as ct

    if not isinstance(model, ct.models.MLModel):
        model = ct.models.MLModel(str(model), skip_model_load=True)
    return to_fp16(model)


def _get_or_build(cache: ConversionCache, key: list | None, build):
    """``cache.get_or_build``; a None key (a source without a fingerprint) builds uncached."""
    if key is None:
        model, notes = build()
        return model, notes, False
    return cache.get_or_build(key, build)


def _variant_key(inputs: ChainInputs, target_spec: int, parts: list) -> list | None:
    """Key parts identifying the chain's root (the given model's bytes or the source's
    fingerprint) followed by ``parts``; None when the source has no fingerprint."""
    if inputs.converted is not None:
        return [f"model:{_file_digest(inputs.converted)}", f"target:{target_spec}", *parts]
    fingerprint = inputs.source.fingerprint(inputs.feed, inputs.order)
    if fingerprint is None:
        return None
    return fingerprint + [canonical(inputs.convert), f"target:{target_spec}", *parts]


def _file_digest(model) -> str:
    """SHA-256 of a model's spec and weight files (or of its serialized spec)."""
    digest = hashlib.sha256()
    path = getattr(model, "package_path", None) or (model if isinstance(model, (str, Path))
                                                    else None)
    if path is not None and Path(path).exists():
        root = Path(path)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            digest.update(file.read_bytes())
        return digest.hexdigest()
    spec = model.get_spec() if hasattr(model, "get_spec") else model
    digest.update(spec.SerializeToString())
    return digest.hexdigest()
