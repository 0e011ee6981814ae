"""FP16 execution modes of the reference executor.

- ``typed`` (default): compute each op in float32, then round every value the program
  declares fp16 to float16. Each op's result is then exactly as precise as its declared type
  promises — the contract the converter wrote into the program. It cannot model how a device
  kernel computes *inside* an op: the Neural Engine and GPU may accumulate dot products in fp16
  or in mixed precision, fuse ops, or approximate transcendentals.
- ``fp16-accumulate`` (pessimistic): as ``typed``, and in addition the reductions inside
  ``conv``, ``conv_transpose``, ``linear`` and ``matmul`` with fp16 outputs accumulate in fp16:
  the reduction axis is split into chunks of ``ACCUMULATE_CHUNK`` elements (input channels for
  convolutions), each partial sum is rounded to fp16 and the running total is rounded to fp16
  after every addition. This bounds what an fp16-accumulating kernel can lose.
- ``device-risk`` (pessimistic): as ``typed``, and ops with fp16 outputs whose device kernels
  are reported to keep intermediates in fp16 (softplus, reduce_log_sum_exp, layer_norm,
  l2_norm, reductions) run that way — see ``device_risk`` and ``docs/device-risk.md``.
- ``fp32``: ignore declared fp16 (no rounding): the ideal the conversion approximates.

Why ``typed`` is the default: it is what the file specifies, independent of any device — the
MIL spec types every intermediate value, and Core ML's CPU path honours fp16 storage while
accumulating in higher precision (Apple's "Typed Execution" guide, coremltools docs
``docs-guides/source/typed-execution.md``). Results on the GPU / Neural Engine can differ
within fp16 tolerances; use ``fp16-accumulate`` to see how sensitive a model is to that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import device_risk

MODES = ("typed", "fp16-accumulate", "device-risk", "fp32")
#: Ops whose outputs are some of their inputs' values, moved (same element type in and out).
#: An fp16 input is already fp16-exact (program inputs, states and consts are, and every op
#: output is rounded), so rounding these ops' outputs would change nothing and is skipped.
MOVES_VALUES = frozenset({
    "reshape", "transpose", "slice_by_index", "slice_by_size", "concat", "expand_dims",
    "squeeze", "tile", "gather", "gather_along_axis", "read_state", "slice_update", "split",
    "stack", "identity", "reverse", "flatten2d", "coreml_update_state",
})
#: Elements per partial sum in ``fp16-accumulate`` mode.
ACCUMULATE_CHUNK = 16
_ACCUMULATING_OPS = ("conv", "conv_transpose", "linear", "matmul")


@dataclass(frozen=True)
class Fp16Mode:
    name: str = "typed"
    #: device-risk kernels that changed values: op type -> number of values
    fired: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.name not in MODES:
            raise ValueError(f"unknown fp16 mode {self.name!r}; expected one of {', '.join(MODES)}")

    @property
    def rounds_outputs(self) -> bool:
        return self.name != "fp32"

    def wrap(self, impl, node):
        """The implementation to run for ``node`` in this mode (with the inside-the-op watch
        of ``device_risk`` on ops with fp16 outputs)."""
        from . import dtypes

        if not any(dtypes.is_fp16(t) for t in node.output_dtypes):
            return impl
        if self.name == "fp16-accumulate" and node.op_type in _ACCUMULATING_OPS:
            impl = _accumulate_in_fp16(impl, node.op_type)
        return device_risk.wrap(impl, node, self.name, self.fired)


def _round(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


def _accumulate_in_fp16(impl, op_type: str):
    """Run ``impl`` on chunks of the reduction axis, summing partial results in fp16."""

    def chunked(ins, node):
        parts = list(_partial_inputs(ins, op_type))
        total = None
        for part in parts:
            partial = _round(impl(part, node))
            total = partial if total is None else _round(total + partial)
        bias = ins.get("bias")
        if bias is not None and op_type != "matmul":
            shape = [1, -1] + [1] * (total.dim() - 2) if op_type.startswith("conv") else [-1]
            total = _round(total + bias.reshape(shape))
        return total

    return chunked


def _partial_inputs(ins, op_type: str):
    """Copies of ``ins`` restricted to one chunk of the reduction axis each (bias removed)."""
    base = {k: v for k, v in ins.items() if k != "bias"}
    if op_type == "matmul":
        x, y = ins["x"], ins["y"]
        tx, ty = bool(ins.get("transpose_x", False)), bool(ins.get("transpose_y", False))
        k = x.shape[-2] if tx else x.shape[-1]
        for start in range(0, k, ACCUMULATE_CHUNK):
            stop = min(start + ACCUMULATE_CHUNK, k)
            xs = x[..., start:stop, :] if tx else x[..., start:stop]
            ys = y[..., :, start:stop] if ty else y[..., start:stop, :]
            yield dict(base, x=xs, y=ys)
    elif op_type == "linear":
        x, w = ins["x"], ins["weight"]
        for start in range(0, x.shape[-1], ACCUMULATE_CHUNK):
            stop = min(start + ACCUMULATE_CHUNK, x.shape[-1])
            yield dict(base, x=x[..., start:stop], weight=w[:, start:stop])
    else:  # convolutions: chunks of input channels within each group
        x, w = ins["x"], ins["weight"]
        groups = int(ins.get("groups", 1)) if ins.get("groups") is not None else 1
        if groups != 1:  # grouped: accumulate per kernel window only
            yield base
            return
        channels = x.shape[1]
        step = max(1, ACCUMULATE_CHUNK // max(1, int(torch.tensor(w.shape[2:]).prod())))
        for start in range(0, channels, step):
            stop = min(start + step, channels)
            weight = w[:, start:stop] if op_type == "conv" else w[start:stop]
            yield dict(base, x=x[:, start:stop], weight=weight)
