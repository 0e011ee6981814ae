"""Numeric-hazard watch: the first op whose output goes non-finite or out of fp16 range.

Checked on each op's output before fp16 rounding:

- ``nonfinite``: NaN or ±Inf in any float value;
- ``fp16_overflow``: |x| > 65504 (the largest float16) in a value declared fp16;
- ``fp16_underflow``: 0 < |x| < 6.1e-5 (below float16's smallest normal, 2**-14) in a value
  declared fp16 — precision is lost there and values under 6e-8 flush to zero.
- ``fp16_inside_overflow``: an intermediate inside an fp16 op (the exp inside softplus, the
  sum of squares inside a norm) leaves the fp16 range; recorded by ``device_risk``.

A ``screen`` watch (what checks run) reads each float value once, with one sum, and looks
further only at a value whose sum is not finite: an fp32 value's sum is NaN/Inf when any of its
values is; an fp16-declared value is summed after its fp16 rounding (which the run does anyway),
and that sum is NaN/Inf when a value is NaN/Inf or rounds to ±Inf (|x| ≥ 65520). So the screen
finds the same first NaN/Inf and inside-the-op overflow as the full watch, and the same first
fp16 overflow except a value in (65504, 65520), which rounds to ±65504 (finite on the device
too) and only the full watch names. It finds no underflow (that needs a pass of its own over
every value). The screen also passes over the output of an op that only selects, moves or
bounds values it reads (``SELECTS_VALUES``: relu, max_pool, reshape, concat, softmax...) when
every float value it reads was itself watched: such an op cannot create a NaN/Inf or an fp16
overflow that its inputs did not already have. A failing check re-runs its samples under the
full watch (``runtimes.reference``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

FP16_MAX = 65504.0
FP16_MIN_NORMAL = 6.103515625e-05  # 2**-14

KINDS = {
    "nonfinite": "NaN/Inf",
    "fp16_overflow": "fp16 overflow (|x| > 65504)",
    "fp16_underflow": "fp16 underflow (0 < |x| < 6.1e-5)",
    "fp16_inside_overflow": "fp16 overflow inside an op (|intermediate| > 65504)",
}


#: Ops whose every output value is one of the values they read (an input's or a const's), a
#: max / min of them, or bounded to [-1, 1] from finite inputs (sigmoid, tanh, softmax): finite
#: and within ±65504 whenever what they read is. Ops that scale, sum or average are not here.
SELECTS_VALUES = frozenset({
    "relu", "relu6", "clip", "thresholded_relu", "sigmoid", "tanh", "softmax",
    "max_pool", "reduce_max", "reduce_min",
    "reshape", "transpose", "squeeze", "expand_dims", "flatten2d", "identity",
    "slice_by_index", "slice_by_size", "concat", "stack", "split", "tile", "reverse",
    "pad", "gather", "gather_along_axis", "gather_nd", "select", "band_part",
    "pixel_shuffle", "pixel_unshuffle", "space_to_depth", "depth_to_space",
    "upsample_nearest_neighbor", "resize_nearest_neighbor", "crop",
})


def consts_in_range(values) -> bool:
    """Whether every float among ``values`` (an op's const inputs: tensors, Python numbers) is
    finite and within ±65504, so an op of ``SELECTS_VALUES`` reading it adds no hazard."""
    for value in values:
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and value.numel() and \
                    not bool(value.abs().max() <= FP16_MAX):
                return False
        elif isinstance(value, float) and not abs(value) <= FP16_MAX:
            return False
    return True


@dataclass(frozen=True)
class Hazard:
    kind: str
    op_name: str
    op_type: str
    output: str
    location: str
    detail: str

    def describe(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        return (f"first {KINDS[self.kind]}: op {self.op_name!r} ({self.op_type}) output "
                f"{self.output!r}{where}: {self.detail}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "op": self.op_name, "op_type": self.op_type,
                "output": self.output, "location": self.location, "detail": self.detail,
                "message": self.describe()}


class HazardWatch:
    """Keeps the first hazard of each kind over every prediction it watches; ``screen``
    skips the underflow kind and passes over in-range values after one min/max read."""

    def __init__(self, screen: bool = False) -> None:
        self.found: dict[str, Hazard] = {}
        self.screen = screen
        #: values inspected (for tests: a watch that never runs counts none)
        self.inspected = 0

    def inspect_output(self, step, index: int, value, rounded: torch.Tensor | None) -> None:
        """Look at output ``index`` of ``step`` (a compiled op, ``program.Step``), unless the
        screen may pass over it: ``step.selects_watched`` (see ``SELECTS_VALUES``)."""
        if self.screen and step.selects_watched:
            return
        if isinstance(value, torch.Tensor):
            self.inspect(step.node, step.node.output_names[index], value, step.fp16[index],
                         rounded)

    def inspect(self, node, output: str, value: torch.Tensor, fp16: bool,
                rounded: torch.Tensor | None = None) -> None:
        """Look at ``value`` (an op's output before fp16 rounding); ``rounded`` is the value
        after it, when the run rounds this output."""
        if not value.is_floating_point() or value.numel() == 0:
            return
        self.inspected += 1
        if self.screen and self._in_range(value, fp16, rounded):
            return
        if "nonfinite" not in self.found:
            bad = ~torch.isfinite(value)
            if bool(bad.any()):
                self._add("nonfinite", node, output, f"{int(bad.sum())} of {value.numel()} "
                          "values are NaN/Inf")
        if not fp16:
            return
        magnitude = value.abs()
        if "fp16_overflow" not in self.found:
            peak = float(magnitude.nan_to_num(0.0, 0.0, 0.0).max())
            if peak > FP16_MAX:
                self._add("fp16_overflow", node, output, f"max |x| = {peak:.4g}")
        if not self.screen and "fp16_underflow" not in self.found:
            tiny = (magnitude > 0) & (magnitude < FP16_MIN_NORMAL)
            if bool(tiny.any()):
                self._add("fp16_underflow", node, output,
                          f"{int(tiny.sum())} of {value.numel()} values")

    def _in_range(self, value: torch.Tensor, fp16: bool, rounded: torch.Tensor | None) -> bool:
        """True when one read shows ``value`` holds no NaN/Inf still to report and, if fp16, no
        overflow still to report: the sum of ``value`` (or of ``rounded``, the fp16 rounding,
        for an fp16 overflow) is finite. Without ``rounded``, an fp16 value is proven within
        ±65504 by its sum of squares S = Σx² (max |x| ≤ √S). A sum that overflows only sends
        the value to the exact checks."""
        wants_fp16 = fp16 and "fp16_overflow" not in self.found
        if "nonfinite" in self.found and not wants_fp16:
            return True
        if not wants_fp16:
            return math.isfinite(float(value.sum()))
        if rounded is not None:
            return math.isfinite(float(rounded.sum()))
        flat = _flat(value)
        if flat.dtype is not torch.float32:
            flat = flat.to(torch.float32)
        squares = float(torch.dot(flat, flat))
        return math.isfinite(squares) and squares <= FP16_MAX ** 2

    def wants_inside(self) -> bool:
        """Whether an inside-the-op overflow is still to be found (only the first is kept)."""
        return "fp16_inside_overflow" not in self.found

    def add_inside(self, node, output: str, detail: str) -> None:
        """Record an intermediate of ``node`` leaving the fp16 range (the first one only)."""
        if self.wants_inside():
            self._add("fp16_inside_overflow", node, output, detail)

    def _add(self, kind: str, node, output: str, detail: str) -> None:
        self.found[kind] = Hazard(kind, node.name, node.op_type, output, node.location, detail)

    def hazards(self) -> list[Hazard]:
        return [self.found[k] for k in KINDS if k in self.found]


def _flat(value: torch.Tensor) -> torch.Tensor:
    """``value``'s elements as one dimension, in memory order: a view, not a copy, for any
    dense layout (channels-last included)."""
    if value.is_contiguous():
        return value.view(-1)
    order = sorted(range(value.dim()), key=lambda dim: -value.stride(dim))
    return value.permute(order).reshape(-1)
