"""The verdict of a decode loop: the program's precision (an fp16 state alone leaves a program
FP32), the default tolerance it implies, each step's row and the failures and notes of the loop
as a whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..compare.result import OutputResult
from ..compare.tolerance import PRECISION_DEFAULTS, Tolerance
from ..compare.verdict import tightest_passing, violations
from .result import DecodeResult, DecodeStep

if TYPE_CHECKING:
    from .loop import DecoderFunctions

#: FP32 program with an fp16 state (every Core ML state is fp16): a key or value that differs
#: from the source's in the last float32 bit can round to the neighbouring fp16 value, a
#: relative error of 2^-11 that later steps attend to. Measured with correct conversions:
#: 101–137 dB (2 layers, dim 32), 87.9–89.2 dB (8 layers, dim 512, 57 M parameters); so 60 dB
#: (and the same top-1 tokens), not the 85 dB of stateless FP32 programs.
FP16_STATE_DEFAULT = Tolerance(min_snr_db=60.0, min_cosine=0.9999)
#: ops whose fp16 outputs only store or fetch a state (not compute): an FP32 program keeps
#: its fp16 k/v cache (Core ML states are fp16) and stays "fp32"
_STATE_STORAGE_OPS = frozenset({"read_state", "write_state", "coreml_update_state", "cast"})


def decode_precision(spec) -> str:
    """``"fp16"`` when an ML program computes in fp16; an fp16 value that only stores or
    fetches a state (``read_state``, ``write_state``, ``cast``) does not count."""
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if op.type in _STATE_STORAGE_OPS:
                    continue
                if any(o.type.WhichOneof("type") == "tensorType"
                       and o.type.tensorType.dataType == _FP16 for o in op.outputs):
                    return "fp16"
    return "fp32"


def _fp16_code() -> int:
    from coremltools.proto import MIL_pb2

    return MIL_pb2.DataType.Value("FLOAT16")


_FP16 = _fp16_code()


def default_tolerance(precision: str, fp16_state: bool) -> Tolerance:
    """The limits when none are set; see ``FP16_STATE_DEFAULT`` for FP32 programs whose
    state is fp16."""
    if precision == "fp16":
        return PRECISION_DEFAULTS["fp16"]
    base = FP16_STATE_DEFAULT if fp16_state else PRECISION_DEFAULTS["fp32"]
    return Tolerance.layered(base, Tolerance(min_top1=1.0))


def as_tolerance(tolerance) -> Tolerance:
    if tolerance is None:
        return Tolerance()
    if isinstance(tolerance, dict):
        return Tolerance.from_mapping(tolerance)
    return tolerance


def decode_result(records: list[DecodeStep], prompt, teacher_forcing, limits: Tolerance,
            step_limits: Tolerance, precision, functions: DecoderFunctions, source, output,
            name, timings, steps) -> DecodeResult:
    rows = {}
    for step in records:
        if step.metrics is None:
            continue
        label = f"{output} {step.label()}"
        rows[label] = OutputResult(label, step.metrics, step_limits,
                                   violations(label, step.metrics, step_limits),
                                   tightest_passing(step.metrics))
    model, names = functions.models["decode"], functions.names
    result = DecodeResult(
        name=name or f"decode loop {model.name}", backend="reference", platform=model.platform,
        tolerance=limits, output_results=rows, source=type(source).__name__,
        model=f"{model.name} (functions {names['prefill']}, {names['decode']})",
        inputs=f"prompt of {len(prompt)} token(s) + {steps} decode step(s), greedy",
        precision=precision, timings=timings, prompt=prompt,
        teacher_forcing=teacher_forcing, steps=records)
    result.extra_failures.extend(_loop_failures(result, limits))
    result.notes.extend(_notes(result))
    return result


def _loop_failures(result: DecodeResult, limits: Tolerance) -> list[str]:
    """Nothing compared, and top-1 agreement over the compared steps below ``min_top1``."""
    out = []
    decoded = [s for s in result.compared_steps if s.index > 0]
    if not decoded:
        why = ("steps=0" if len(result.steps) == 1 else
               "the sides were fed different tokens from step 1 on")
        out.append(f"nothing was compared: no decode step ran on the same inputs ({why})")
    agreement = result.top1_agreement
    if limits.min_top1 is not None and agreement is not None and agreement < limits.min_top1:
        first = result.steps[result.first_divergent_step]
        out.append(f"{first.label()}: top-1 token {first.converted_token} (converted) vs "
                   f"{first.source_token} (source); top-1 agreement {agreement:.3f} over "
                   f"{len(result.compared_steps)} compared step(s) < min_top1="
                   f"{limits.min_top1:g}")
    return out


def _notes(result: DecodeResult) -> list[str]:
    fed = ("both sides fed the source's tokens" if result.teacher_forcing
           else "each side fed the token it picked")
    notes = [f"{result.mode}: {fed}; {len(result.compared_steps)} of {len(result.steps)} "
             f"step(s) compared"]
    first = result.first_divergent_step
    if first is None:
        notes.append(f"generated tokens identical over {len(result.steps)} step(s): "
                     f"{result.source_tokens}")
    else:
        step = result.steps[first]
        notes.append(f"first divergent step: {step.label()}, source token {step.source_token},"
                     f" converted {step.converted_token}; source tokens {result.source_tokens},"
                     f" converted tokens {result.converted_tokens}")
        if not result.teacher_forcing and first + 1 < len(result.steps):
            notes.append(f"steps {first + 1}–{len(result.steps) - 1} not compared: the sides "
                         "were fed different tokens")
    return notes
