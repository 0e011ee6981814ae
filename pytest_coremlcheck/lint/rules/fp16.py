"""CML-F: values that do not survive fp16 — overflow to ±inf, flush to zero, mask sentinels,
long reductions. Constants are read once (immediate values always, weight blobs when weight
scanning is on) and shared by the rules.

fp16 facts: largest finite value 65504; smallest subnormal 2**-24 ≈ 5.96e-8 (anything smaller
in magnitude rounds to 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rule import Problem, rule
from ..spec import FLOAT_DTYPES, OpView, tensor_dtype, tensor_shape
from ..weights import immediate_array

FP16_MAX = 65504.0
FP16_TINY = 2.0 ** -24
#: How many ops downstream of a constant the rules look for fp16 use or a mask sink.
HOPS = 4
_BOUND_ONLY = {"clip", "minimum", "maximum", "less", "less_equal", "greater", "greater_equal",
               "equal", "not_equal"}
_MASK_SINKS = {"softmax", "add", "sub", "select", "band_part", "reduce_log_sum_exp"}
_NORMS = {"layer_norm", "batch_norm", "instance_norm", "l2_norm", "local_response_norm"}
_SOURCE = "IEEE 754 binary16; docs-guides/source/typed-execution.md"


@dataclass
class ConstStats:
    """Summary of one float constant's values.

    ``max_abs_finite``: largest finite magnitude (0 for fp16 constants, which cannot exceed
    65504, so it is not computed); ``infinities``: count of ±inf; ``sentinel``:
    the most negative value when it is -65504 or below (a mask sentinel), else None;
    ``tiny``: non-zero values below 2**-24 (only counted for wider-than-fp16 dtypes).
    """

    op: OpView
    dtype: str
    size: int
    max_abs_finite: float
    infinities: int
    sentinel: float | None
    tiny: int
    stored_in_blob: bool


def const_stats(ctx) -> list[ConstStats]:
    """Stats of every float ``const`` (computed once per lint)."""

    def collect():
        out = []
        for op in ctx.ops():
            if op.type != "const":
                continue
            value = op.attribute("val")
            dtype = tensor_dtype(value.type) if value is not None else None
            if dtype not in FLOAT_DTYPES or dtype == "BFLOAT16":
                continue
            in_blob = value.WhichOneof("value") == "blobFileValue"
            if in_blob:
                if not ctx.scan_weights:
                    continue
                array = ctx.blobs.read(value.blobFileValue.fileName, value.blobFileValue.offset,
                                       dtype)
            else:
                array = immediate_array(value, dtype)
            if array is None or not array.size:
                continue
            out.append(_stats(op, dtype, array, in_blob))
        return out

    return ctx.memo("fp16_const_stats", collect)


def _stats(op, dtype: str, array: np.ndarray, in_blob: bool) -> ConstStats:
    if array.dtype == np.float16:
        return _fp16_stats(op, array, in_blob)
    values = array.astype(np.float64, copy=False) if array.dtype != np.float32 else array
    low, high = float(values.min()), float(values.max())
    finite = values
    infinities = 0
    if not (np.isfinite(low) and np.isfinite(high)):
        infinities = int(np.count_nonzero(np.isinf(values)))
        finite = values[np.isfinite(values)]
        low_finite = float(finite.min()) if finite.size else 0.0
        high = float(finite.max()) if finite.size else 0.0
        low = -np.inf if np.any(np.isneginf(values)) else low_finite
    max_abs = max(abs(low) if np.isfinite(low) else 0.0, abs(high))
    if np.isinf(low) and finite.size:
        max_abs = max(max_abs, abs(float(finite.min())))
    magnitudes = np.abs(finite)
    tiny = int(np.count_nonzero((magnitudes > 0) & (magnitudes < FP16_TINY)))
    sentinel = low if low <= -FP16_MAX else None
    return ConstStats(op, dtype, int(array.size), max_abs, infinities, sentinel, tiny, in_blob)


_FP16_EXPONENT, _FP16_MAGNITUDE = 0x7C00, 0x7FFF
_FP16_NEG_INF, _FP16_LOWEST = 0xFC00, 0xFBFF


def _fp16_stats(op, array: np.ndarray, in_blob: bool) -> ConstStats:
    """fp16 values by bit pattern (numpy's fp16 arithmetic is slow): infinities have an
    all-ones exponent and zero mantissa; -inf is 0xFC00, -65504 is 0xFBFF."""
    bits = array.view(np.uint16)
    infinities = int(np.count_nonzero((bits & _FP16_MAGNITUDE) == _FP16_EXPONENT))
    sentinel = None
    if infinities and np.any(bits == _FP16_NEG_INF):
        sentinel = -np.inf
    elif np.any(bits == _FP16_LOWEST):
        sentinel = -FP16_MAX
    return ConstStats(op, "FLOAT16", int(array.size), 0.0, infinities, sentinel, 0, in_blob)


def _downstream(op: OpView, hops: int = HOPS) -> list[OpView]:
    """Ops reached from ``op``'s outputs within ``hops`` steps (breadth first)."""
    function = op.function
    seen: set[int] = {id(op)}
    frontier = [op]
    out: list[OpView] = []
    for _ in range(hops):
        following = []
        for current in frontier:
            for output in current.proto.outputs:
                for consumer, _key in function.consumers.get(output.name, []):
                    if id(consumer) not in seen:
                        seen.add(id(consumer))
                        following.append(consumer)
        out.extend(following)
        frontier = following
    return out


def _reaches_fp16(stats: ConstStats, reached: list[OpView]) -> OpView | None:
    if stats.dtype == "FLOAT16":
        return stats.op
    for op in reached:
        if "FLOAT16" in op.output_dtypes():
            return op
    return None


def _direct_consumers(op: OpView) -> list[OpView]:
    out = []
    for output in op.proto.outputs:
        out.extend(consumer for consumer, _ in op.function.consumers.get(output.name, []))
    return out


def _mask_use(stats: ConstStats, reached: list[OpView]) -> OpView | None:
    if stats.sentinel is None:
        return None
    return next((op for op in reached if op.type in _MASK_SINKS), None)


def _const_label(stats: ConstStats) -> str:
    return f"const '{stats.op.name}' ({stats.dtype}, {stats.size} value(s))"


@rule("CML-F001", "fp16-overflow-constant", severity="error",
      summary="A constant beyond ±65504 is used in fp16 arithmetic and becomes ±inf.",
      why="""fp16 tops out at 65504. A larger constant — a -1e9 attention mask, a 1e5
      scale, an fp32 weight outside the range — turns into ±inf when it is cast to or
      computed in fp16, and inf - inf or 0 × inf turns outputs into NaN. The source model
      computed in fp32, so it never saw this. Constants used only as clip/min/max bounds or in
      comparisons are left out.""",
      fix="""Use a sentinel inside the fp16 range (e.g. -1e4), clamp the constant, or keep that
      part of the model in fp32 (compute_precision=ct.transform.FP16ComputePrecision(
      op_selector=...)).""",
      source=_SOURCE, reads_weights=True)
def fp16_overflow_constant(ctx):
    for stats in const_stats(ctx):
        overflows = (stats.dtype != "FLOAT16" and stats.max_abs_finite > FP16_MAX) or (
            stats.infinities)
        if not overflows:
            continue
        consumers = _direct_consumers(stats.op)
        if consumers and all(op.type in _BOUND_ONLY for op in consumers):
            continue
        reached = _downstream(stats.op)
        fp16_op = _reaches_fp16(stats, reached)
        if fp16_op is None:
            continue
        if stats.infinities:
            what = f"holds {stats.infinities} infinite value(s) (an fp32 value beyond ±65504)"
        else:
            what = f"holds {stats.max_abs_finite:.3g}, beyond the fp16 range ±65504"
        via = "" if fp16_op is stats.op else f"; it reaches fp16 at {fp16_op.describe()}"
        yield Problem(f"{_const_label(stats)} {what}{via}", stats.op.location)


@rule("CML-F002", "fp16-flush-to-zero", severity="warning",
      summary="Tiny non-zero constants, or a normalization epsilon, flush to zero in fp16.",
      why="""fp16 cannot represent magnitudes below 2**-24 ≈ 6e-8: they become 0, and small
      weights vanish. A normalization epsilon such as BERT's 1e-12 becomes 0 (division by zero
      on constant rows) or is clamped by coremltools to 2**-24; either way near-constant rows
      normalize differently from the source. Norm ops whose fp16 epsilon is 0 or 2**-24 are
      reported, since that is what a flushed or clamped epsilon looks like after
      conversion.""",
      fix="Use an epsilon of at least 1e-5 for fp16, or keep the op in fp32.",
      source=_SOURCE, reads_weights=True)
def fp16_flush_to_zero(ctx):
    for stats in const_stats(ctx):
        if stats.dtype == "FLOAT16" or not stats.tiny:
            continue
        fp16_op = _reaches_fp16(stats, _downstream(stats.op))
        if fp16_op is not None:
            yield Problem(f"{_const_label(stats)}: {stats.tiny} non-zero value(s) below 6e-8 "
                          f"flush to zero in fp16 (reaches fp16 at {fp16_op.describe()})",
                          stats.op.location)
    for op in ctx.ops():
        if op.type in _NORMS and op.input_dtype("x") == "FLOAT16":
            value = op.param("epsilon")
            if value is None or tensor_dtype(value.type) != "FLOAT16":
                continue
            array = immediate_array(value, "FLOAT16")
            if array is None or not array.size:
                continue
            epsilon = float(np.abs(array.astype(np.float32)).max())
            if epsilon <= FP16_TINY:
                shown = "0" if epsilon == 0 else f"{epsilon:.2g}, the smallest fp16 value"
                yield Problem(f"{op.describe()} has an fp16 epsilon of {shown}: the source's "
                              "epsilon was below 6e-8 and was flushed or clamped; "
                              "near-constant rows normalize differently", op.location)


@rule("CML-F003", "fp16-mask-sentinel", severity="warning", supersedes=("CML-F001",),
      summary="A -inf / finfo.min mask sentinel feeds softmax or an addition in fp16.",
      why="""Attention masks often add -inf, torch.finfo(dtype).min or -1e9 to masked scores.
      In fp16 these are -inf (or -65504, which overflows to -inf as soon as anything negative
      is added): a fully masked row turns softmax into NaN, and multiplying the sentinel by a
      0/1 mask gives 0 × inf = NaN (reported as an error).""",
      fix="""Use a finite sentinel well inside the range (e.g. -1e4) or build the mask with
      select/where instead of arithmetic.""",
      source=f"{_SOURCE}; IEEE 754 arithmetic (inf - inf = NaN, 0 × inf = NaN)",
      reads_weights=True)
def fp16_mask_sentinel(ctx):
    for stats in const_stats(ctx):
        if stats.sentinel is None:
            continue
        reached = _downstream(stats.op)
        sink = _mask_use(stats, reached)
        if sink is None or _reaches_fp16(stats, reached) is None:
            continue
        product = next((op for op in reached if op.type == "mul"
                        and "FLOAT16" in op.output_dtypes()), None)
        value = "-inf" if np.isinf(stats.sentinel) else f"{stats.sentinel:.3g}"
        message = (f"{_const_label(stats)} is a mask sentinel ({value}) feeding "
                   f"{sink.describe()} in fp16")
        if product is not None:
            yield Problem(message + f"; {product.describe()} can give 0 × inf = NaN",
                          stats.op.location, severity="error")
        else:
            yield Problem(message + "; a fully masked row gives NaN", stats.op.location)


#: Reduction op → (what is accumulated, length from which the rule warns).
_REDUCTIONS = {
    "reduce_sum": ("sum", 4096),
    "reduce_log_sum": ("sum", 4096),
    "reduce_sum_square": ("sum of squares", 256),
    "reduce_l2_norm": ("sum of squares", 256),
    "reduce_prod": ("product", 16),
}


def _reduced_length(op: OpView) -> int | None:
    x_type = op.input_type("x")
    shape = tensor_shape(x_type) if x_type is not None else None
    if not shape:
        return None
    axes_value = op.param("axes")
    if axes_value is None:
        axes = list(range(len(shape)))
    else:
        array = immediate_array(axes_value, "INT32")
        if array is None:
            return None
        axes = [int(a) % len(shape) for a in array.tolist()] or list(range(len(shape)))
    length = 1
    for axis in set(axes):
        if shape[axis] is None:
            return None
        length *= shape[axis]
    return length


@rule("CML-F004", "fp16-long-reduction", severity="warning",
      summary="A reduction over a long axis is accumulated in fp16 and may overflow.",
      why="""Summing N fp16 values overflows 65504 once their mean magnitude exceeds 65504/N
      (16 for N = 4096); sums of squares overflow once the RMS exceeds sqrt(65504/N) (16 for
      N = 256); products after a few dozen factors above 2. The source model reduced in fp32.""",
      fix="""Keep the reduction in fp32 (FP16ComputePrecision op_selector), or rescale before
      reducing (e.g. reduce_mean instead of reduce_sum).""",
      source=_SOURCE)
def fp16_long_reduction(ctx):
    for op in ctx.ops():
        if op.type not in _REDUCTIONS or op.input_dtype("x") != "FLOAT16":
            continue
        what, limit = _REDUCTIONS[op.type]
        length = _reduced_length(op)
        if length is None or length < limit:
            continue
        if what == "sum":
            bound = f"their mean magnitude exceeds {FP16_MAX / length:.3g}"
        elif what == "sum of squares":
            bound = f"their RMS exceeds {(FP16_MAX / length) ** 0.5:.3g}"
        else:
            bound = f"their geometric mean exceeds {FP16_MAX ** (1 / length):.3g}"
        yield Problem(f"{op.describe()} accumulates the {what} of {length} fp16 values: it "
                      f"overflows 65504 once {bound}", op.location)


#: Ops whose Neural Engine / GPU kernels are reported to overflow inside in fp16, with the
#: intermediate and the severity (the device-risk table of the reference executor).
_DEVICE_RISK = {
    "softplus": ("exp(x) (inf past x ≈ 11.09: the output drops to 0)", "warning"),
    "softplus_parametric": ("exp(beta·x) (inf past beta·x ≈ 11.09)", "warning"),
    "reduce_log_sum_exp": ("Σ exp(x) without the max shift (inf past x ≈ ln(65504/N))",
                           "warning"),
    "layer_norm": ("Σ (x − mean)² (inf once |x − mean| > 256)", "info"),
    "instance_norm": ("Σ (x − mean)² (inf once |x − mean| > 256)", "info"),
    "l2_norm": ("Σ x² (inf once |x| > 256)", "info"),
}


@rule("CML-F005", "fp16-device-risk-op", severity="warning",
      summary="An fp16 op whose Neural Engine / GPU kernel is reported to overflow inside.",
      why="""On the Neural Engine (and some GPU paths) softplus computes log(1 + exp(x)) with an
      fp16 exp, reduce_log_sum_exp sums exp(x) in fp16 without subtracting the maximum, and
      norms square their inputs in fp16. Their outputs fit fp16 while an intermediate does
      not: softplus and log-sum-exp then return 0, a norm returns 0 or NaN. The CPU computes
      these ops in fp32 inside, so the same file is right there. Reported as a warning for the
      exp family (coremltools #2687, #2690) and as info for norms, which overflow only for
      activations above 256.""",
      fix="""Run the check with --coreml-fp16-mode=device-risk to see whether your inputs reach
      the limit (the hazard watch names the op in every mode); keep the op in fp32
      (compute_precision=ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type !=
      "softplus")), or use the stable form: max(x, 0) + log1p(exp(-|x|)) for softplus,
      m + log(Σ exp(x − m)) for log-sum-exp, rescaled activations for norms.""",
      source="""https://github.com/apple/coremltools/issues/2687,
      https://github.com/apple/coremltools/issues/2690,
      https://github.com/apple/ml-ane-transformers (reference/layer_norm.py);
      docs/device-risk.md""")
def fp16_device_risk_op(ctx):
    for op in ctx.ops():
        risk = _DEVICE_RISK.get(op.type)
        if risk is None or op.input_dtype("x") != "FLOAT16":
            continue
        intermediate, severity = risk
        yield Problem(f"{op.describe()} computes {intermediate} in fp16 on the Neural Engine / "
                      "GPU; check it with --coreml-fp16-mode=device-risk or keep it in fp32 "
                      "(op_selector=lambda op: op.op_type != "
                      f"\"{op.type}\")", op.location, severity=severity)
