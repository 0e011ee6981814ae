"""A Llama-style decoder of realistic shape (≈ 57 M parameters), stateful, multifunction,
FP32 and int4 per-block: a 16-token prompt plus 32 greedy decode steps against torch.

Run with ``make test-slow`` (or ``pytest -m slow tests/test_llm_decoder_slow.py -s``, which
prints the README's table rows).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pytest_coremlcheck import Tolerance
from pytest_coremlcheck.decode import DecoderFunctions, decode_check, run_decode

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
import llm_decoder  # noqa: E402

from tests.decoder_helpers import dequantized_copy, greedy_without_cache  # noqa: E402

pytestmark = pytest.mark.slow

CONFIG = dict(vocab=32000, dim=512, layers=8, heads=8, kv_heads=2, hidden=1536, max_seq=128)
PROMPT = [int(t) for t in np.random.default_rng(0).integers(0, CONFIG["vocab"], 16)]
STEPS = 32
INT4_LIMITS = Tolerance(min_snr_db=3.0, min_cosine=0.5)


@pytest.fixture(scope="module")
def decoder():
    return llm_decoder.build_decoder(**CONFIG, seed=0)


@pytest.fixture(scope="module")
def packages(decoder, tmp_path_factory):
    started = time.perf_counter()
    paths = llm_decoder.convert_decoder_variants(decoder, tmp_path_factory.mktemp("llm"),
                                                 ("fp32", "int4"))
    print(f"\nconverted fp32 + int4 in {time.perf_counter() - started:.0f} s")
    return paths


@pytest.fixture(scope="module")
def loaded(packages):
    return {variant: DecoderFunctions(path) for variant, path in packages.items()}


def table_row(variant: str, result) -> str:
    snr = [s.metrics.snr_db for s in result.compared_steps]
    cosine = [s.metrics.cosine for s in result.compared_steps]
    first = result.first_divergent_step
    return (f"| {variant} | {result.mode} | {len(result.compared_steps)}/{len(result.steps)} | "
            f"{min(snr):.1f} / {np.median(snr):.1f} | {min(cosine):.6f} | "
            f"{result.top1_agreement:.3f} | {'none' if first is None else first} | "
            f"{result.timings['source_s']:.2f} / {result.timings['converted_s']:.2f} |")


def test_fp32_program_decodes_the_source_tokens(decoder, loaded):
    print(f"\nparameters: {llm_decoder.parameter_count(decoder) / 1e6:.1f} M")
    result = decode_check(decoder, loaded["fp32"], PROMPT, steps=STEPS)
    assert result.precision == "fp32" and result.first_divergent_step is None
    assert result.source_tokens == greedy_without_cache(decoder, PROMPT, STEPS + 1)
    assert result.converted_tokens == result.source_tokens
    assert len(result.compared_steps) == STEPS + 1
    print(table_row("fp32", result))


@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_int4_reports_where_its_tokens_first_differ(decoder, loaded, teacher_forcing):
    result = run_decode(decoder, loaded["int4"], PROMPT, steps=STEPS, tolerance=INT4_LIMITS,
                        teacher_forcing=teacher_forcing)
    source, converted = result.source_tokens, result.converted_tokens
    differ = [i for i, (a, b) in enumerate(zip(source, converted)) if a != b]
    assert result.first_divergent_step == (differ[0] if differ else None)
    assert result.steps[0].metrics.snr_db < 60  # int4 weights: far from the FP32 program
    if teacher_forcing:
        assert len(result.compared_steps) == STEPS + 1
    elif differ:
        assert len(result.compared_steps) == differ[0] + 1
    print(table_row("int4 (block 32)", result))


def test_int4_program_matches_its_dequantized_weights(decoder, packages, loaded):
    """Against torch holding the numpy-dequantized int4 weights, the int4 program decodes
    the same tokens within the FP32 default."""
    source, replaced = dequantized_copy(decoder, packages["int4"])
    assert len(replaced) == 8 * 7 + 2
    result = decode_check(source, loaded["int4"], PROMPT, steps=STEPS)
    assert result.first_divergent_step is None
    print(table_row("int4 vs its dequantized weights", result))
