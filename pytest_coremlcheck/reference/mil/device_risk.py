"""Device risk: how the Neural Engine / GPU is reported to evaluate some ops *inside*, in fp16.

The ``typed`` mode computes each op exactly (fp32) and rounds its output to fp16. Several public
reports show device kernels that keep an op's intermediate values in fp16, so an op whose output
fits fp16 still overflows inside (table in ``docs/device-risk.md``):

- ``softplus``: ``log(1 + exp(x))`` with an fp16 ``exp``; the output collapses to 0 once
  ``exp(x)`` overflows (x > ln 65504 ≈ 11.09) — coremltools #2687, #2747; PRs #2725, #2756.
- ``reduce_log_sum_exp``: ``log(Σ exp(x))`` without the max shift, the sum in fp16; the output
  collapses to 0 once the sum overflows (32 values: x > ln(65504/32) ≈ 7.62) — coremltools
  #2690, PR #2726.
- ``layer_norm``: mean, ``(x − mean)²`` and their mean in fp16 (Apple's ml-ane-transformers
  ``LayerNormANE``, whose ``clip_mag`` "helps reduce risk of overflow"); squares overflow once
  |x − mean| > 255.9 and the variance becomes inf, so the output becomes 0 (+ beta).
- ``l2_norm``, ``reduce_sum_square``, ``reduce_l2_norm``: Σ x² in fp16 (coremltools' own
  ``rms_norm`` lowering rescales by max|x| because "computing x^2 directly can cause FP16
  overflow for large activation values (>256)" on the Neural Engine; swift-transformers #95).
- ``reduce_sum``, ``reduce_mean``: running sum in fp16 (chunks of ``ACCUMULATE_CHUNK``, as
  ``fp16-accumulate`` does for matmul) — pessimistic, no device report.

``device-risk`` mode runs these kernels on ops whose outputs are declared fp16; every other op,
and every op of an fp32 program, keeps its exact kernel. It is a pessimistic bound, not a claim
about a specific chip.

The inside-the-op watch (every mode) records an op whose modelled intermediate leaves the fp16
range even when its output does not. Each intermediate's peak is found in one cheap pass over
the op's input or output (e.g. ``exp(max x)``, ``exp(max output)`` for log-sum-exp, ``N·var``
for a norm), not by running the op again (in ``device-risk`` mode, whose kernels do not
produce the exact output, log-sum-exp and ``reduce_l2_norm`` run their exact kernel for it), and
it stops looking once it has found one op.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .hazards import FP16_MAX
from .ops._util import axis_index, ints, scalar

#: Elements per partial sum of an fp16 running sum (as ``fp16-accumulate``).
CHUNK = 16
NOTE = ("device-risk mode: fp16 intermediates inside softplus, reduce_log_sum_exp, layer_norm, "
        "l2_norm and reductions as public device reports describe them (docs/device-risk.md); "
        "a pessimistic bound, not a claim about a specific chip")


def h(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to fp16 (beyond ±65504 it becomes ±inf), returned as fp32."""
    return x.to(torch.float16).to(torch.float32)


def fp16_sum(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    """Σ over ``axes`` accumulated in fp16: partial sums of ``CHUNK`` elements, each and the
    running total rounded to fp16."""
    rank = x.dim()
    tail = list(range(rank - len(axes), rank))
    moved = torch.movedim(x, axes, tail)
    flat = moved.reshape(*moved.shape[:rank - len(axes)], -1)
    total = torch.zeros(flat.shape[:-1])
    for start in range(0, flat.shape[-1], CHUNK):
        total = h(total + h(flat[..., start:start + CHUNK].sum(-1)))
    if keep:
        total = total.reshape([1 if i in axes else x.shape[i] for i in range(rank)])
    return total


def _axes(ins, x) -> list[int]:
    axes = ins.get("axes")
    if axes is None:
        return list(range(x.dim()))
    return sorted({axis_index(a, x.dim()) for a in ints(axes)})


def _keep(ins) -> bool:
    return bool(scalar(ins.get("keep_dims"), False))


def _count(mask: torch.Tensor) -> int:
    return int(mask.sum())


# Kernels: fn(ins, node) -> (output, how many values the modelled behaviour changed)


def _softplus_of(z: torch.Tensor):
    e = h(torch.exp(z))
    over = torch.isinf(e)
    return torch.where(over, torch.zeros_like(z), torch.log1p(e)), _count(over)


def softplus(ins, node):
    """``log(1 + e)``, ``e = fp16(exp(x))``; 0 where ``e`` overflowed (the reported collapse)."""
    return _softplus_of(ins["x"])


def softplus_parametric(ins, node):
    """``alpha · softplus(beta · x)`` with the softplus above; alpha, beta per channel."""
    x = ins["x"]
    shape = [1, -1] + [1] * (x.dim() - 2)
    alpha, beta = ins["alpha"].reshape(shape), ins["beta"].reshape(shape)
    out, fired = _softplus_of(h(beta * x))
    return alpha * out, fired


def reduce_log_sum_exp(ins, node):
    """``log(Σ fp16(exp(x)))`` with an fp16 sum and no max shift; 0 where the sum overflowed."""
    x = ins["x"]
    total = fp16_sum(h(torch.exp(x)), _axes(ins, x), _keep(ins))
    over = torch.isinf(total)
    return torch.where(over, torch.zeros_like(total), torch.log(total)), _count(over)


def _squares(x: torch.Tensor, axes: list[int], keep: bool = True) -> torch.Tensor:
    """Σ fp16(x²) over ``axes``, accumulated in fp16."""
    return fp16_sum(h(x * x), axes, keep)


def layer_norm(ins, node):
    """LayerNormANE's order in fp16: d = x − mean, mean(d²) with d² and its sum in fp16,
    d · rsqrt(var + ε). The mean itself is taken exactly, then rounded (no report says it
    overflows)."""
    x = ins["x"]
    axes = _axes(ins, x)
    n = math.prod(x.shape[a] for a in axes)
    eps = scalar(ins.get("epsilon"), 1e-5)
    d = h(x - h(x.mean(dim=axes, keepdim=True)))
    var = h(_squares(d, axes) / n)
    out = h(d * h(torch.rsqrt(h(var + eps))))
    shape = [x.shape[i] if i in axes else 1 for i in range(x.dim())]
    if ins.get("gamma") is not None:
        out = h(out * ins["gamma"].reshape(shape))
    if ins.get("beta") is not None:
        out = out + ins["beta"].reshape(shape)
    return out, _count(torch.isinf(var))


def l2_norm(ins, node):
    """``x / sqrt(Σ x² + ε)`` over the last three axes, Σ x² in fp16."""
    x = ins["x"]
    total = _squares(x, list(range(max(x.dim() - 3, 0), x.dim())))
    eps = scalar(ins.get("epsilon"), 1e-6)
    return x / h(torch.sqrt(h(total + eps))), _count(torch.isinf(total))


def _sum_kernel(ins, node):
    x = ins["x"]
    total = fp16_sum(x, _axes(ins, x), _keep(ins))
    return total, _count(torch.isinf(total))


def _mean_kernel(ins, node):
    x = ins["x"]
    axes = _axes(ins, x)
    total = fp16_sum(x, axes, _keep(ins))
    return total / math.prod(x.shape[a] for a in axes), _count(torch.isinf(total))


def _sum_square_kernel(ins, node):
    x = ins["x"]
    total = _squares(x, _axes(ins, x), _keep(ins))
    return total, _count(torch.isinf(total))


def _l2_kernel(ins, node):
    total, fired = _sum_square_kernel(ins, node)
    return torch.sqrt(total), fired


# Inside-the-op peaks: fn(ins, output) -> largest |intermediate| (one pass, no re-evaluation)


def _max(t: torch.Tensor) -> float:
    return float(t.nan_to_num(0.0, 0.0, 0.0).amax()) if t.numel() else 0.0


def _exp(v: float) -> float:
    return math.exp(min(v, 709.0))


def _peak_softplus(ins, out) -> float:
    return _exp(_max(ins["x"]))


def _peak_softplus_parametric(ins, out) -> float:
    x = ins["x"]
    return _exp(_max(ins["beta"].reshape([1, -1] + [1] * (x.dim() - 2)) * x))


def _peak_log_sum_exp(ins, out) -> float:
    return _exp(_max(out))  # Σ exp(x) = exp(log-sum-exp)


def _deviation_squares(x: torch.Tensor, axes: list[int]) -> float:
    """max over rows of Σ (x − mean)² = N · var."""
    if not axes or x.numel() == 0:
        return 0.0
    n = math.prod(x.shape[a] for a in axes)
    return _max(x.var(dim=axes, unbiased=False) * n)


def _peak_layer_norm(ins, out) -> float:
    x = ins["x"]
    return _deviation_squares(x, _axes(ins, x))


def _peak_instance_norm(ins, out) -> float:
    x = ins["x"]
    return _deviation_squares(x, list(range(2, x.dim())))


def _peak_l2_norm(ins, out) -> float:
    x = ins["x"]
    return _max((x * x).sum(dim=list(range(max(x.dim() - 3, 0), x.dim()))))


def _peak_running_sum(ins, out) -> float:
    """Largest |partial sum| of the running sum along the reduced axes, in memory order."""
    x = ins["x"]
    axes = _axes(ins, x)
    if x.numel() == 0:
        return 0.0
    flat = torch.movedim(x, axes, list(range(x.dim() - len(axes), x.dim())))
    flat = flat.reshape(*flat.shape[:x.dim() - len(axes)], -1)
    return _max(flat.cumsum(-1).abs())


def _peak_l2(ins, out) -> float:
    return _max(out) ** 2


@dataclass(frozen=True)
class Risk:
    """One modelled op: the device behaviour, where it is reported, what is emulated."""

    op_type: str
    behaviour: str
    source: str
    emulation: str
    intermediate: str = ""  # the intermediate the inside-the-op watch follows
    kernel: Callable | None = None
    peak: Callable | None = None
    remedy: str = ""  # the stable formulation or rescaling, besides keeping the op in fp32
    #: the peak is read from the exact output (device-risk mode computes it too)
    peak_from_output: bool = False


_CT = "https://github.com/apple/coremltools"
RISKS: dict[str, Risk] = {r.op_type: r for r in (
    Risk("softplus", "log(1 + exp(x)) with exp in fp16; output drops to 0 for large x "
         "(observed cliff x ≈ 10.4, naive bound 11.09)",
         f"{_CT}/issues/2687, {_CT}/issues/2747, {_CT}/pull/2725, {_CT}/pull/2756",
         "exp(x) rounded to fp16; output 0 where it overflowed", "exp(x)", softplus,
         _peak_softplus, "use max(x, 0) + log1p(exp(-|x|))"),
    Risk("softplus_parametric", "alpha · softplus(beta · x): the softplus as above (inferred)",
         f"{_CT}/issues/2687", "as softplus, on beta · x", "exp(beta·x)",
         softplus_parametric, _peak_softplus_parametric, "use max(z, 0) + log1p(exp(-|z|))"),
    Risk("reduce_log_sum_exp", "log(Σ exp(x)) without the max shift, Σ in fp16; output "
         "drops to 0 once the sum overflows", f"{_CT}/issues/2690, {_CT}/pull/2726",
         "exp and the running sum in fp16; output 0 where the sum overflowed", "Σ exp(x)",
         reduce_log_sum_exp, _peak_log_sum_exp, "max-shift: m + log(Σ exp(x − m)), m = max(x)",
         peak_from_output=True),
    Risk("layer_norm", "mean, (x − mean)² and their mean computed in fp16 (Apple's reference "
         "LayerNormANE; its clip_mag 'helps reduce risk of overflow')",
         "https://github.com/apple/ml-ane-transformers (ane_transformers/reference/"
         "layer_norm.py)", "sums and squares in fp16; a variance that overflowed gives 0 "
         "(+ beta)", "Σ (x − mean)²", layer_norm, _peak_layer_norm,
         "rescale the activations (divide by max|x|, or clip like LayerNormANE's clip_mag)"),
    Risk("instance_norm", "no device report found: same mean/variance arithmetic as "
         "layer_norm, so the watch follows Σ (x − mean)²", "—", "exact kernel",
         "Σ (x − mean)²", None, _peak_instance_norm, "rescale the activations"),
    Risk("l2_norm", "Σ x² in fp16 (fp16 norms of large activations overflow)",
         "https://github.com/huggingface/swift-transformers/issues/95; coremltools rms_norm "
         "lowering comment (converters/mil/frontend/torch/ops.py)",
         "Σ x² in fp16; output 0 where it overflowed", "Σ x²", l2_norm, _peak_l2_norm,
         "divide by max|x| first"),
    Risk("reduce_sum_square", "Σ x² in fp16", "coremltools rms_norm lowering comment",
         "squares and running sum in fp16", "", _sum_square_kernel, None, ""),
    Risk("reduce_l2_norm", "sqrt(Σ x²), Σ in fp16", "coremltools rms_norm lowering comment",
         "squares and running sum in fp16", "Σ x²", _l2_kernel, _peak_l2,
         "divide by max|x| first", peak_from_output=True),
    Risk("reduce_sum", "no device report found; pessimistic fp16 running sum",
         "— (bound, as fp16-accumulate)", "running sum in fp16", "running Σ x",
         _sum_kernel, _peak_running_sum, "reduce pre-scaled values"),
    Risk("reduce_mean", "no device report found; pessimistic fp16 running sum, then ÷ N",
         "— (bound, as fp16-accumulate)", "running sum in fp16, then ÷ N", "running Σ x",
         _mean_kernel, _peak_running_sum, "reduce pre-scaled values"),
)}

#: Ops looked at and left exact: why (documented in docs/device-risk.md).
EXACT = {
    "exp": "its only intermediate is its output, which the hazard watch already checks",
    "softsign": "x / (1 + |x|) cannot leave the fp16 range inside",
    "softmax": "reported to max-shift on the Neural Engine (coremltools #2728), so fp16 "
               "evaluation differs from exact only by rounding",
    "log_softmax": "no device report for the MIL op (#2728 is the torch decomposition "
                   "softmax → log, which typed mode already rounds)",
    "batch_norm": "mean and variance are constants; no reduction inside",
    "pow": "no device report found", "sqrt": "no internal intermediate",
    "rsqrt": "no internal intermediate; an fp16 epsilon of 0 shows as an output overflow",
}


def selector(op_type: str) -> str:
    """A pasteable ``compute_precision`` argument that keeps ``op_type`` ops in fp32."""
    return ("compute_precision=ct.transform.FP16ComputePrecision("
            f"op_selector=lambda op: op.op_type != \"{op_type}\")")


def inside_detail(risk: Risk, peak: float) -> str:
    """The hazard text: which intermediate, its peak, and the fixes."""
    remedy = f", or {risk.remedy}" if risk.remedy else ""
    return (f"{risk.intermediate} inside the op reaches {peak:.4g} (> 65504 in fp16) even if "
            f"the output fits; fix: keep it in fp32 with {selector(risk.op_type)}{remedy}")


def wrap(impl, node, mode: str, fired: dict[str, int]):
    """``impl`` with the device kernel (``device-risk`` mode) and the inside-the-op watch, for
    an op with fp16 outputs; ``fired`` counts, per op type, values the kernels changed."""
    risk = RISKS.get(node.op_type)
    if risk is None:
        return impl
    kernel = risk.kernel if mode == "device-risk" else None
    if kernel is None and risk.peak is None:
        return impl

    def run(ins, node):
        if kernel is not None:
            out, count = kernel(ins, node)
            if count:
                fired[node.op_type] = fired.get(node.op_type, 0) + count
        else:
            out = impl(ins, node)
        watch = node.executor.watch if node.executor is not None else None
        if watch is not None and risk.peak is not None and watch.wants_inside():
            exact = impl(ins, node) if kernel is not None and risk.peak_from_output else out
            peak = risk.peak(ins, exact)
            if peak > FP16_MAX:
                watch.add_inside(node, node.output_names[0], inside_detail(risk, peak))
        return out

    return run


def notes(mode: str, fired: dict[str, int]) -> list[str]:
    """What a report says about a run in ``mode``: the bound, and which behaviours fired."""
    if mode != "device-risk":
        return []
    out = [NOTE]
    for op_type, count in sorted(fired.items()):
        risk = RISKS[op_type]
        out.append(f"device-risk: {op_type} — {risk.behaviour} — changed {count} value(s) "
                   f"(source: {risk.source})")
    return out
