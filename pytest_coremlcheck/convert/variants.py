"""Named model variants: FP32 → FP16 → compressed, built with ``coremltools.optimize.coreml``.

Each named variant records the step it derives from (``base``), the deployment target its ops
need, how to build it and its default tolerance against the source. Custom variants are a name
mapped to a callable ``MLModel -> MLModel`` (derived from the FP16 model, or from the FP32
model when no FP16 variant is requested).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..compare.tolerance import Tolerance
from ..errors import CheckError, internal_error, is_internal

#: Deployment-target spec versions (iOS15 = 6 … iOS18 = 9).
TARGET_NAMES = {6: "iOS15", 7: "iOS16", 8: "iOS17", 9: "iOS18"}


@dataclass(frozen=True)
class Variant:
    """How to build one variant of a model."""

    name: str
    base: str | None  # the variant it is built from; None for fp32 (built from the source)
    min_spec: int  # minimum specification version its ops need
    tolerance: Tolerance
    build: Callable | None = None  # MLModel -> MLModel; None for fp32/fp16 (converted)
    needs: str = ""  # optional package it needs, for a clear message

    @property
    def min_target(self) -> str:
        return TARGET_NAMES.get(self.min_spec, f"spec {self.min_spec}")


def _linear(dtype: str, granularity: str, block_size: int | None = None) -> Callable:
    def build(mlmodel):
        import coremltools.optimize.coreml as cto

        config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype=dtype,
                                             granularity=granularity,
                                             **({"block_size": block_size} if block_size else {}))
        return cto.linear_quantize_weights(mlmodel, cto.OptimizationConfig(global_config=config))

    return build


def _palettize(nbits: int, mode: str) -> Callable:
    def build(mlmodel):
        import coremltools.optimize.coreml as cto

        config = cto.OpPalettizerConfig(mode=mode, nbits=nbits)
        return cto.palettize_weights(mlmodel, cto.OptimizationConfig(global_config=config))

    return build


def _prune(sparsity: float) -> Callable:
    def build(mlmodel):
        import coremltools.optimize.coreml as cto

        config = cto.OpMagnitudePrunerConfig(target_sparsity=sparsity)
        return cto.prune_weights(mlmodel, cto.OptimizationConfig(global_config=config))

    return build


def _prune_then_palettize(sparsity: float, nbits: int) -> Callable:
    def build(mlmodel):
        import coremltools.optimize.coreml as cto

        pruned = _prune(sparsity)(mlmodel)
        config = cto.OpPalettizerConfig(mode="kmeans", nbits=nbits)
        return cto.palettize_weights(pruned, cto.OptimizationConfig(global_config=config),
                                     joint_compression=True)

    return build


def _tol(snr: float, cosine: float) -> Tolerance:
    return Tolerance(min_snr_db=snr, min_cosine=cosine)


#: Default tolerances against the source (documented in the README's variants table).
NAMED: dict[str, Variant] = {
    "fp32": Variant("fp32", None, 6, _tol(60, 0.99999)),
    "fp16": Variant("fp16", "fp32", 6, _tol(30, 0.999)),
    "int8": Variant("int8", "fp16", 7, _tol(25, 0.995), _linear("int8", "per_channel")),
    "int4-block": Variant("int4-block", "fp16", 9, _tol(12, 0.97),
                          _linear("int4", "per_block", 32)),
    "prune50": Variant("prune50", "fp16", 7, Tolerance(min_cosine=0.5), _prune(0.5)),
    "prune50+palettize4": Variant("prune50+palettize4", "fp16", 9, Tolerance(min_cosine=0.5),
                                  _prune_then_palettize(0.5, 4), needs="sklearn"),
}
_PALETTE_TOLERANCE = {1: _tol(0, 0.3), 2: _tol(3, 0.7), 4: _tol(12, 0.97), 6: _tol(20, 0.99),
                      8: _tol(25, 0.995)}
for _bits, _tolerance in _PALETTE_TOLERANCE.items():
    NAMED[f"palettize{_bits}"] = Variant(f"palettize{_bits}", "fp16", 7, _tolerance,
                                         _palettize(_bits, "kmeans"), needs="sklearn")
    NAMED[f"palettize{_bits}-uniform"] = Variant(f"palettize{_bits}-uniform", "fp16", 7,
                                                 _tolerance, _palettize(_bits, "uniform"))

_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


def resolve(requested: Sequence[str] | Mapping[str, Callable]) -> list[Variant]:
    """The variants to build, bases first; unknown names list the valid ones.

    ``requested`` holds names of ``NAMED`` variants and/or ``{name: callable}`` custom ones.
    """
    items: list[tuple[str, Callable | None]] = []
    if isinstance(requested, Mapping):
        items = list(requested.items())
    else:
        for entry in requested:
            if isinstance(entry, Mapping):
                items.extend(entry.items())
            else:
                items.append((entry, None))
    chosen: dict[str, Variant] = {}
    names = [n for n, _ in items]
    for name, custom in items:
        if custom is not None:
            if not callable(custom) or not _NAME.match(name):
                raise CheckError(f"custom variant {name!r} must map a plain name to a callable "
                                 "MLModel -> MLModel")
            base = "fp16" if "fp16" in names else "fp32"
            chosen[name] = Variant(name, base, 6, Tolerance(), custom)
            continue
        if name not in NAMED:
            raise CheckError(f"unknown variant {name!r}; valid names: "
                             f"{', '.join(NAMED)} (or a name mapped to a callable)")
        chosen[name] = NAMED[name]
    ordered: list[Variant] = []
    for variant in chosen.values():  # every base is built, even when not checked itself
        _with_bases(variant, ordered)
    return ordered


def _with_bases(variant: Variant, ordered: list[Variant]) -> None:
    if variant.base is not None and all(v.name != variant.base for v in ordered):
        _with_bases(NAMED[variant.base], ordered)
    if all(v.name != variant.name for v in ordered):
        ordered.append(variant)


def required_spec(variants: Sequence[Variant]) -> int:
    """The highest specification version any of ``variants`` needs."""
    return max((v.min_spec for v in variants), default=6)


def build(variant: Variant, base_model) -> tuple:
    """(MLModel, notes): ``variant`` built from its base MLModel, with clear errors for
    missing packages. A variant with no compressed weight says so in the notes."""
    if variant.needs:
        try:
            __import__(variant.needs)
        except ImportError:
            raise CheckError(f"variant {variant.name!r} needs scikit-learn (k-means "
                             "palettization): pip install scikit-learn") from None
    spec_version = base_model.get_spec().specificationVersion
    if spec_version < variant.min_spec:
        raise CheckError(
            f"variant {variant.name!r} needs minimum_deployment_target {variant.min_target} or "
            f"newer; the model targets {TARGET_NAMES.get(spec_version, spec_version)}")
    from .on_the_fly import quiet

    try:
        with quiet():
            model = variant.build(base_model)
    except CheckError:
        raise
    except Exception as exc:
        if is_internal(exc):
            raise internal_error(f"building variant {variant.name!r}", exc) from exc
        raise CheckError(f"building variant {variant.name!r}: {type(exc).__name__}: {exc}") \
            from exc
    notes = []
    if compressed_weights(model.get_spec()) == 0:
        notes.append(f"variant {variant.name}: no weight was compressed (coremltools skips "
                     "weights under weight_threshold, 2048 elements by default), so it runs "
                     f"the {variant.base} model's weights")
    return model, notes


def compressed_weights(spec) -> int:
    """Number of ``constexpr_*`` ops (compressed weights) in an ML program spec."""
    return sum(1 for function in spec.mlProgram.functions.values()
               for block in function.block_specializations.values()
               for op in block.operations if op.type.startswith("constexpr_"))


def to_fp16(fp32_model):
    """The FP16 program of an FP32 ML program: re-serialised with fp16 compute precision."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    spec = fp32_model.get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        raise CheckError("the fp16 variant of a given model needs an ML program "
                         f"(this model is {spec.WhichOneof('Type')})")
    program = load_milproto(spec, spec.specificationVersion, fp32_model.weights_dir)
    target = next(t for t in ct.target if t.value == spec.specificationVersion)
    from .on_the_fly import quiet

    with quiet():
        converted = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=target,
                               compute_precision=ct.precision.FLOAT16, skip_model_load=True)
    fp16_spec = converted.get_spec()
    fp16_spec.description.CopyFrom(spec.description)  # keep image types, names, metadata
    return ct.models.MLModel(fp16_spec, weights_dir=converted.weights_dir, skip_model_load=True)
