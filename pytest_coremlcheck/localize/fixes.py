"""Fixes a localisation proposes, as objects a conversion or a compression takes, and as code.

- ``Fp32Ops``: an ``FP16ComputePrecision`` op selector keeping named ops in fp32.
- ``excluding``: a copy of an ``OptimizationConfig`` that leaves named weights uncompressed.
- ``mask_sentinel_hint``: the ``finfo(float32).min`` attention mask advice.
"""

from __future__ import annotations

import math
import re

from ..reference.mil.hazards import FP16_MAX

#: Suffix coremltools' fp16 pass gives the ops it casts; prefix its name sanitizer gives an op
#: name that starts with a digit (the TorchScript frontend names ops by graph value numbers).
_CAST_SUFFIX = "_cast_fp16"
_DIGIT_PREFIX = re.compile(r"^op_(?=\d)")


def conversion_name(program_name: str) -> str:
    """The name an op has when ``FP16ComputePrecision``'s selector sees it, from its name in the
    converted fp16 program, up to characters other than ``[A-Za-z0-9_]`` (the sanitizer made
    them ``_``): ``op_13_cast_fp16`` → ``13``, ``input_3_cast_fp16`` → ``input_3`` (from
    ``input.3``)."""
    name = program_name[:-len(_CAST_SUFFIX)] if program_name.endswith(_CAST_SUFFIX) \
        else program_name
    return _DIGIT_PREFIX.sub("", name)


class Fp32Ops:
    """``op_selector`` for ``ct.transform.FP16ComputePrecision``: True (compute in fp16) for
    every op except those whose (op type, name with non-word characters made ``_``) is in
    ``keep``."""

    def __init__(self, keep):
        #: sorted (op type, name) pairs: a stable form for the conversion cache key
        self.keep = tuple(sorted(set(keep)))

    def __call__(self, op) -> bool:
        return (op.op_type, re.sub(r"\W", "_", op.name)) not in self.keep

    def code(self) -> str:
        """The same selector as code to paste into ``ct.convert`` (with ``import re``)."""
        pairs = ", ".join(f"({t!r}, {n!r})" for t, n in self.keep)
        return ("compute_precision=ct.transform.FP16ComputePrecision(op_selector=lambda op: "
                f"(op.op_type, re.sub(r'\\W', '_', op.name)) not in {{{pairs}}})")


def fp32_kept(spec, program_names: list[str]) -> list[str]:
    """Of ``program_names`` (names in the fp16 program), those whose op in the re-converted
    ``spec`` computes in fp32 (kept ops lose the ``_cast_fp16`` suffix)."""
    from coremltools.proto import MIL_pb2

    fp32 = MIL_pb2.DataType.Value("FLOAT32")
    found = set()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                name = op.attributes["name"].immediateValue.tensor.strings.values
                types = [o.type.tensorType.dataType for o in op.outputs
                         if o.type.WhichOneof("type") == "tensorType"]
                if name and types and all(t == fp32 for t in types):
                    found.add(name[0])
    return [n for n in program_names if _strip(n) in found]


def _strip(name: str) -> str:
    return name[:-len(_CAST_SUFFIX)] if name.endswith(_CAST_SUFFIX) else name


def compress(mlmodel, config):
    """``mlmodel`` compressed with ``config``, its progress bars held back."""
    from ..convert.on_the_fly import quiet

    with quiet():
        return getattr(_cto(), compressor(config))(mlmodel, config)


def _cto():
    import coremltools.optimize.coreml as cto

    return cto


def compressor(config) -> str:
    """The name of the ``coremltools.optimize.coreml`` function that applies ``config`` (an
    ``OptimizationConfig``), picked by the type of its op configs."""
    cto = _cto()
    configs = [config.global_config, *(config.op_type_configs or {}).values(),
               *(config.op_name_configs or {}).values()]
    for op_config in configs:
        if isinstance(op_config, cto.OpPalettizerConfig):
            return "palettize_weights"
        if isinstance(op_config, cto.OpLinearQuantizerConfig):
            return "linear_quantize_weights"
        if isinstance(op_config, (cto.OpMagnitudePrunerConfig, cto.OpThresholdPrunerConfig)):
            return "prune_weights"
    raise ValueError("compression config: expected an OptimizationConfig of "
                     "OpPalettizerConfig, OpLinearQuantizerConfig or a pruner config, got "
                     f"{[type(c).__name__ for c in configs if c is not None] or 'none'}")


def excluding(config, weights: list[str]):
    """A copy of ``config`` with ``op_name_configs[w] = None`` for every weight ``w``."""
    import coremltools.optimize.coreml as cto

    names = dict(config.op_name_configs or {})
    names.update({w: None for w in weights})
    return cto.OptimizationConfig(global_config=config.global_config,
                                  op_type_configs=config.op_type_configs,
                                  op_name_configs=names)


def exclusion_code(config, weights: list[str]) -> str:
    """``excluding(config, weights)`` as one line of code (op configs with their non-default
    fields; ``cto`` is ``coremltools.optimize.coreml``)."""
    fixed = excluding(config, weights)
    parts = []
    if fixed.global_config is not None:
        parts.append(f"global_config={_config_code(fixed.global_config)}")
    if fixed.op_type_configs:
        parts.append("op_type_configs={" + ", ".join(
            f"{k!r}: {_config_code(v)}" for k, v in fixed.op_type_configs.items()) + "}")
    parts.append("op_name_configs={" + ", ".join(
        f"{k!r}: {_config_code(v)}" for k, v in fixed.op_name_configs.items()) + "}")
    return f"cto.{compressor(config)}(mlmodel, cto.OptimizationConfig({', '.join(parts)}))"


def _config_code(op_config) -> str:
    if op_config is None:
        return "None"
    import attrs

    fields = [f"{f.name}={getattr(op_config, f.name)!r}" for f in attrs.fields(type(op_config))
              if f.init and not f.name.startswith("_")
              and getattr(op_config, f.name) != _default(f)]
    return f"cto.{type(op_config).__name__}({', '.join(fields)})"


def _default(attribute):
    default = attribute.default
    factory = getattr(default, "factory", None)
    return factory() if factory is not None else default


#: Magnitude from which a constant added or selected into scores is a mask sentinel.
SENTINEL = 1e38


def mask_sentinel_hint(recording, hazards) -> str | None:
    """Advice when an add/sub/mul/select reads a constant of magnitude ≥ 1e38 (or ±inf, as
    ``finfo(float32).min`` becomes in fp16) on the way to a softmax and the run has a NaN/Inf
    or overflow hazard; names lint rule CML-F003."""
    if not any(h.kind in ("nonfinite", "fp16_overflow") for h in hazards):
        return None
    for index, record in enumerate(recording.ops):
        if record.op_type not in ("add", "sub", "mul", "select"):
            continue
        big = [c for c in record.constants.values()
               if c.peak is not None and (math.isinf(c.peak) or c.peak >= SENTINEL
                                          or (c.peak >= FP16_MAX and any(record.fp16)))]
        if big and _reaches_softmax(recording, index):
            return (f"op {record.name!r} ({record.op_type}) reads the constant {big[0].op!r} "
                    f"(|x| = {big[0].peak:.3g}), an attention-mask sentinel such as "
                    "torch.finfo(torch.float32).min, on the way to a softmax: it is -inf in "
                    "fp16, 0 × -inf is NaN and a fully masked row gives NaN. Build the mask with "
                    "a finite sentinel such as -1e4 (lint rule CML-F003 fp16-mask-sentinel says "
                    "the same).")
    return None


def _reaches_softmax(recording, start: int) -> bool:
    reached = set(recording.ops[start].outputs)
    for record in recording.ops[start + 1:]:
        if any(v in reached for v in record.input_vars):
            if record.op_type == "softmax":
                return True
            reached.update(record.outputs)
    return False
