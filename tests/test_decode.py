"""Decode-loop checks on a tiny Llama-style decoder: stateful, multifunction, FP32 and int4.

The decoder (examples/llm_decoder.py) is converted once per module; every expected token
sequence comes from the torch model run without its cache (the whole sequence re-computed at
each step) or from the converted ``prefill`` function on the whole sequence.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pytest_coremlcheck import CheckError, EquivalenceError, Tolerance
from pytest_coremlcheck.decode import DecoderFunctions, causal_lm_feeds, decode_check, run_decode

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
import llm_decoder  # noqa: E402

from tests.decoder_helpers import dequantized_copy, greedy_without_cache  # noqa: E402

PROMPT = [5, 9, 3, 7, 11]
STEPS = 10
INT4_LIMITS = Tolerance(min_snr_db=5.0, min_cosine=0.5)


@pytest.fixture(scope="module")
def decoder():
    return llm_decoder.build_decoder(vocab=64, dim=32, layers=2, heads=4, kv_heads=2,
                                     hidden=64, max_seq=48, seed=0)


@pytest.fixture(scope="module")
def packages(decoder, tmp_path_factory):
    """fp32 and int4 (every weight of more than 256 values) multifunction packages."""
    return llm_decoder.convert_decoder_variants(decoder, tmp_path_factory.mktemp("llm"),
                                                ("fp32", "int4"), weight_threshold=256)


@pytest.fixture(scope="module")
def loaded(packages):
    """Both packages loaded once by the reference executor, for every loop of the module."""
    return {variant: DecoderFunctions(path) for variant, path in packages.items()}


def test_a_load_parses_only_the_function_it_runs(packages, monkeypatch):
    """A multifunction package's other functions are neither parsed nor their weights read;
    a function the package lacks is named with the ones it has."""
    from coremltools.converters.mil.frontend.milproto import load as milproto

    from pytest_coremlcheck.reference import ModelLoadError, ReferenceModel

    parsed, parse = [], milproto.load

    def counting(spec, *args, **kwargs):
        parsed.append(sorted(spec.mlProgram.functions))
        return parse(spec, *args, **kwargs)

    monkeypatch.setattr(milproto, "load", counting)
    model = ReferenceModel(packages["int4"], function_name="prefill")
    assert parsed == [["prefill"]]
    assert sorted(model.spec.mlProgram.functions) == ["decode", "prefill"]  # the file's spec
    with pytest.raises(ModelLoadError, match="no function 'verify'; the model has decode, "
                                             "prefill"):
        ReferenceModel(packages["int4"], function_name="verify")


def test_the_hazard_screen_never_passes_over_a_compressed_table(packages):
    """An embedding ``gather`` only selects values, but from an int4 table no watch has read:
    the screen must look at its output; from the fp32 table (a const within ±65504) it may
    pass over it."""
    from pytest_coremlcheck.reference import ReferenceModel
    from pytest_coremlcheck.reference.mil.program import Deferred

    def gathers(variant):
        model = ReferenceModel(packages[variant], function_name="decode")
        return [s for s in model._engine.block.steps if s.node.op_type == "gather"]

    compressed = [s for s in gathers("int4") if isinstance(s.inputs["x"][1], Deferred)]
    assert compressed and not any(s.selects_watched for s in compressed)
    plain = [s for s in gathers("fp32") if isinstance(s.inputs["x"][1], torch.Tensor)]
    assert plain and all(s.selects_watched for s in plain)


def converted_greedy_check(functions, prompt, generated):
    """Arg-max tokens of the converted ``prefill`` function over prompt + generated[:-1]."""
    model = functions.models["prefill"]
    sequence = list(prompt) + list(generated[:-1])
    logits = model.predict(causal_lm_feeds(sequence, 0), state=model.make_state())["logits"]
    return [int(t) for t in logits[0, len(prompt) - 1:].argmax(-1)]


def test_package_is_stateful_multifunction_with_int4_weights(loaded):
    spec = loaded["fp32"].models["prefill"].spec
    functions = {f.name: f for f in spec.description.functions}
    assert set(functions) == {"prefill", "decode"}
    assert spec.description.defaultFunctionName == "decode"
    for function in functions.values():
        states = {s.name: s.type.stateType.arrayType for s in function.state}
        assert set(states) == {"k_cache", "v_cache"}
        assert list(states["k_cache"].shape) == [2, 1, 2, 48, 8]
    decode_ids = functions["decode"].input[0].type.multiArrayType
    assert list(decode_ids.shape) == [1, 1]
    prefill_ids = functions["prefill"].input[0].type.multiArrayType
    assert prefill_ids.shapeRange.sizeRanges[1].upperBound == 48
    int4 = loaded["int4"].models["decode"].spec.mlProgram.functions
    for name in ("prefill", "decode"):
        ops = [op for block in int4[name].block_specializations.values()
               for op in block.operations if op.type == "constexpr_blockwise_shift_scale"]
        assert len(ops) == 2 * 7 + 2  # q, k, v, o, gate, up, down per layer; embedding, head


def test_fp32_program_generates_the_source_tokens(decoder, loaded):
    result = decode_check(decoder, loaded["fp32"], PROMPT, steps=STEPS)
    expected = greedy_without_cache(decoder, PROMPT, STEPS + 1)
    assert result.source_tokens == expected
    assert result.converted_tokens == expected
    assert result.precision == "fp32"
    assert result.first_divergent_step is None and result.top1_agreement == 1.0
    assert len(result.compared_steps) == STEPS + 1 == len(result.output_results)
    assert [s.function for s in result.steps] == ["prefill"] + ["decode"] * STEPS
    assert [s.position for s in result.steps] == [0] + list(range(5, 5 + STEPS))
    assert min(s.metrics.snr_db for s in result.steps) > 100
    assert result.tolerance.min_top1 == 1.0 and result.tolerance.min_snr_db == 60.0
    decode = json.loads(json.dumps(result.to_dict()))["decode"]
    assert decode["mode"] == "free-running" and decode["first_divergent_step"] is None
    assert decode["converted_tokens"] == expected and len(decode["steps"]) == STEPS + 1
    assert any("identical over 11 step(s)" in n for n in result.notes)


def test_int4_reports_its_first_divergent_step(decoder, loaded):
    result = run_decode(decoder, loaded["int4"], PROMPT, steps=STEPS, tolerance=INT4_LIMITS)
    assert result.source_tokens == greedy_without_cache(decoder, PROMPT, STEPS + 1)
    converted = result.converted_tokens
    assert converted_greedy_check(loaded["int4"], PROMPT, converted) == converted
    differ = [i for i, (a, b) in enumerate(zip(result.source_tokens, converted)) if a != b]
    assert result.first_divergent_step == (differ[0] if differ else None)
    assert result.steps[0].metrics.snr_db < 60  # int4 weights, not the FP32 program
    if differ:
        assert [s.index for s in result.compared_steps] == list(range(differ[0] + 1))
        assert any(f"first divergent step: step {differ[0]} " in n for n in result.notes)
    else:
        assert len(result.compared_steps) == STEPS + 1


def test_int4_program_matches_its_dequantized_weights(decoder, packages, loaded):
    """The executor's int4 arithmetic: against torch holding the numpy-dequantized weights, the
    int4 program is an FP32 program (same tokens, the FP32 default tolerance)."""
    source, replaced = dequantized_copy(decoder, packages["int4"])
    assert len(replaced) == 2 * 7 + 2
    result = decode_check(source, loaded["int4"], PROMPT, steps=STEPS)
    assert result.first_divergent_step is None and result.precision == "fp32"
    assert min(s.metrics.snr_db for s in result.steps) > 80


def test_int4_teacher_forcing_compares_every_step(decoder, loaded):
    result = run_decode(decoder, loaded["int4"], PROMPT, steps=STEPS, tolerance=INT4_LIMITS,
                        teacher_forcing=True)
    assert len(result.compared_steps) == STEPS + 1
    fed = [s.converted_input for s in result.steps[1:]]
    assert fed == [[t] for t in result.source_tokens[:-1]]
    assert result.to_dict()["decode"]["mode"] == "teacher forcing"
    assert result.notes[0].startswith("teacher forcing: both sides fed the source's tokens")


class CorruptsCache:
    """The decoder, but the value stored at position ``at`` is halved after it is written."""

    def __init__(self, model, at: int):
        self.model, self.at = model, at

    def reset_cache(self):
        self.model.reset_cache()

    def __call__(self, input_ids, causal_mask):
        logits = self.model(input_ids, causal_mask)
        end = causal_mask.shape[-1]
        if end - input_ids.shape[-1] <= self.at < end:
            self.model.v_cache[:, :, :, self.at] *= 0.5
        return logits


def test_broken_cache_update_fails_naming_the_step(decoder, loaded):
    with pytest.raises(EquivalenceError) as caught:
        decode_check(CorruptsCache(decoder, at=6), loaded["fp32"], PROMPT, steps=STEPS)
    message = str(caught.value)
    assert message.startswith("logits step 3 (decode, position 7): SNR"), message
    result = caught.value.result
    assert [s.index for s in result.steps if s.metrics.snr_db > 100] == [0, 1, 2]


def test_source_with_a_different_weight_fails(decoder, loaded):
    other = copy.deepcopy(decoder)
    with torch.no_grad():
        other.blocks[1].down.weight[0] *= 1.1
    with pytest.raises(EquivalenceError, match=r"^logits step 0 \(prefill, position 0\): SNR"):
        decode_check(other, loaded["fp32"], PROMPT, steps=2)


def test_zero_steps_compares_nothing_and_fails(decoder, loaded):
    with pytest.raises(EquivalenceError, match="nothing was compared: no decode step ran"):
        decode_check(decoder, loaded["fp32"], PROMPT, steps=0)


def test_divergent_tokens_fail_the_fp32_default(decoder, loaded):
    """A source whose top token differs after the prompt: top-1 agreement below 1 fails."""
    other = copy.deepcopy(decoder)
    first = greedy_without_cache(decoder, PROMPT, 1)[0]
    with torch.no_grad():
        other.head.weight[first] *= 0.5
    result = run_decode(other, loaded["fp32"], PROMPT, steps=3,
                        tolerance=Tolerance(min_snr_db=1.0, min_top1=1.0))
    assert result.first_divergent_step == 0
    assert any(f.startswith("step 0 (prefill, position 0): top-1 token") for f in
               result.failures)


def test_unusable_inputs_are_named(decoder, packages):
    with pytest.raises(CheckError, match="no function 'first' for prefill; the model has"):
        run_decode(decoder, packages["fp32"], PROMPT, prefill="first")
    with pytest.raises(CheckError, match="the prompt is empty"):
        run_decode(decoder, packages["fp32"], [])


def test_causal_lm_feeds():
    feeds = causal_lm_feeds([4, 2], 3)
    assert feeds["input_ids"].tolist() == [[4, 2]] and feeds["input_ids"].dtype == np.int32
    mask = feeds["causal_mask"]
    assert mask.shape == (1, 1, 2, 5)
    assert mask[0, 0].tolist() == [[0, 0, 0, 0, -1e4], [0, 0, 0, 0, 0]]


class SharedDecoder:
    """Hands the module's loaded fp32 package to the inner pytest run as a fixture."""

    def __init__(self, functions):
        self.functions = functions

    @pytest.fixture
    def fp32_decoder(self):
        return self.functions


def test_fixture_records_the_loop_in_the_reports(pytester, loaded):
    examples = Path(__file__).parent.parent / "examples"
    pytester.makepyfile(f"""
        import sys
        sys.path.insert(0, {str(examples)!r})
        import llm_decoder

        def test_loop(coreml_decode_check, fp32_decoder):
            model = llm_decoder.build_decoder(vocab=64, dim=32, layers=2, heads=4,
                                              kv_heads=2, hidden=64, max_seq=48, seed=0)
            coreml_decode_check(model, fp32_decoder, [5, 9, 3], steps=2)

        def test_no_step(coreml_decode_check, fp32_decoder):
            model = llm_decoder.build_decoder(vocab=64, dim=32, layers=2, heads=4,
                                              kv_heads=2, hidden=64, max_seq=48, seed=0)
            coreml_decode_check(model, fp32_decoder, [5, 9, 3], steps=0)

        def test_cannot_run(coreml_decode_check):
            coreml_decode_check(None, "missing.mlpackage", [5, 9, 3])
    """)
    run = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--coreml-report=r.json",
                                       "--coreml-report=r.md", "--coreml-report=r.html",
                                       plugins=[SharedDecoder(loaded["fp32"])])
    run.assert_outcomes(passed=1, failed=2)
    run.stdout.fnmatch_lines(["*nothing was compared: no decode step ran*(steps=0)*",
                              "*coreml_decode_check could not run: converted model:*missing*"])
    entries = json.loads((pytester.path / "r.json").read_text())
    text = json.dumps(entries)
    assert text.count('"decode": {') == 2 and "could not run" in text
    assert '"first_divergent_step": null' in text and '"mode": "free-running"' in text
    markdown = (pytester.path / "r.md").read_text()
    assert "logits step 2 (decode, position 4)" in markdown
    assert "generated tokens identical over 3 step(s)" in markdown
    assert "logits step 2 (decode, position 4)" in (pytester.path / "r.html").read_text()
