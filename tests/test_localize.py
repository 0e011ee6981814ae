"""Precision localisation on real conversions, each model wrong on purpose in a known place:
the ops or weights named, the fixes re-converted or re-compressed and re-checked, and the
printed fix code pasted back into ``ct.convert`` / ``coremltools.optimize.coreml``."""

from __future__ import annotations

import math
import re

import coremltools as ct
import coremltools.optimize.coreml as cto
import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck import Tolerance, assert_equivalent, feeds
from pytest_coremlcheck.localize import localize

TOL = Tolerance(min_snr_db=30)


class RMSNorm(nn.Module):
    """Hand-written RMSNorm: x / sqrt(mean(x²) + eps) · w; x² overflows fp16 for |x| > 256."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Block(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.norm = RMSNorm(dim)

    def forward(self, x):
        return x + torch.tanh(self.norm(self.fc(x)))


class NormNet(nn.Module):
    """Two blocks; ``scale`` multiplies the second block's weights, so its activations reach
    ~300 and its RMSNorm's x² ~9e4 (> 65504) while the first block stays within fp16."""

    def __init__(self, scale: float, dim: int = 32):
        super().__init__()
        self.inp = nn.Linear(16, dim)
        self.blocks = nn.Sequential(Block(dim), Block(dim))
        self.head = nn.Linear(dim, 4)
        with torch.no_grad():
            self.blocks[1].fc.weight.mul_(scale)

    def forward(self, x):
        return self.head(self.blocks(self.inp(x)))


def _net(scale: float) -> nn.Module:
    torch.manual_seed(0)
    return NormNet(scale).eval()


SAMPLES = [{"x": np.random.default_rng(i).uniform(0, 1, (1, 16)).astype(np.float32)}
           for i in range(2)]
CONVERT = {"inputs": [ct.TensorType(name="x", shape=(1, 16))],
           "minimum_deployment_target": ct.target.iOS16}


@pytest.fixture(scope="module")
def overflowing():
    net = _net(400.0)
    first = net.blocks[1].fc(net.blocks[0](net.inp(torch.from_numpy(SAMPLES[0]["x"]))))
    assert float(first.abs().max()) > 256  # x² leaves the fp16 range in block 1
    return net, localize(net, inputs=feeds(SAMPLES), convert=CONVERT, tolerance=TOL)


def test_rmsnorm_overflow_ranks_pow_and_reduce_mean_first(overflowing):
    _, loc = overflowing
    assert loc.kind == "fp16" and not loc.before.passed
    top = loc.ranking[:2]
    assert [e.op_type for e in top] == ["pow", "reduce_mean"]
    assert all(e.overflow and math.isinf(e.added) for e in top)
    assert all(e.location == "blocks.1.norm (RMSNorm)" for e in top)
    assert loc.first_over_budget.name == top[0].name
    # block 0's RMSNorm computes the same ops within range: not a suspect
    assert {e.name for e in loc.suspects} == {e.name for e in top}
    assert all(e.location != "blocks.0.norm (RMSNorm)" for e in loc.suspects)


def test_the_verified_fix_keeps_exactly_those_ops_in_fp32(overflowing):
    _, loc = overflowing
    fix = loc.verified_fix
    assert fix is not None and fix.kind == "fp32_ops" and fix.after.passed
    assert sorted(loc.ops[[e.name for e in loc.ops].index(n)].op_type for n in fix.targets) \
        == ["pow", "reduce_mean"]
    assert not fix.before.passed  # wrong on purpose: the plain fp16 conversion fails
    assert "did not match" not in fix.description  # both ops are fp32 in the re-conversion


def test_hazards_in_program_order_with_downstream_symptoms(overflowing):
    _, loc = overflowing
    first = loc.hazards[0]
    assert first.op_type == "pow" and not first.downstream
    assert {h.kind for h in loc.hazards if h.op == first.op} == {"nonfinite", "fp16_overflow"}
    later = [h for h in loc.hazards if h.index > first.index and h.kind == "nonfinite"]
    assert later and all(h.downstream for h in later)
    assert [h.index for h in loc.hazards] == sorted(h.index for h in loc.hazards)


@pytest.mark.slow  # re-converts the model (1-4 s)
def test_fp32_selector_fix_is_verified_and_its_printed_code_works(overflowing):
    net, loc = overflowing
    fix = loc.verified_fix
    assert fix.after.worst_snr_db > 30 > fix.before.worst_snr_db
    assert "verified fix" in loc.summary() and fix.code in loc.summary()
    # the code as printed, pasted into ct.convert, passes the same check
    kwargs = eval(f"dict({fix.code})", {"ct": ct, "re": re})  # noqa: S307
    assert_equivalent(net, None, feeds(SAMPLES), TOL, convert={**CONVERT, **kwargs})


def test_cost_and_json(overflowing):
    _, loc = overflowing
    data = loc.to_dict()
    assert data["timing"]["seconds"] > 0 and data["timing"]["extra_runs"] >= 4
    assert data["timing"]["conversions"] >= 2  # the model and at least one fix
    assert data["ranking"][0]["added"] == "inf"
    assert data["verified_fix"]["after"]["passed"] is True
    assert len(data["ops"]) == len(loc.ops) and "cost:" in loc.report()


@pytest.mark.slow  # re-converts the model (1-4 s)
def test_a_passing_model_has_nothing_suspect():
    loc = localize(_net(1.0), inputs=feeds(SAMPLES), convert=CONVERT, tolerance=TOL)
    assert loc.kind == "fp16" and loc.before.passed
    assert loc.suspects == [] and loc.fixes == [] and loc.first_over_budget is None
    assert not [h for h in loc.hazards if h.kind != "fp16_underflow"]
    assert "nothing suspect" in loc.summary()


class Scaled(nn.Module):
    """A regression head whose output reaches ~1e5: no fp16 *output* can hold it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 8)

    def forward(self, x):
        return self.fc(x) * 3e5


@pytest.mark.slow  # re-converts the model (1-4 s)
def test_no_fix_helps_when_the_declared_fp16_output_cannot_hold_the_value(tmp_path):
    torch.manual_seed(0)
    convert = {**CONVERT, "outputs": [ct.TensorType(name="y", dtype=np.float16)]}
    loc = localize(Scaled().eval(), inputs=feeds(SAMPLES), convert=convert, tolerance=TOL,
                   cache_dir=tmp_path)
    assert not loc.before.passed
    assert len(loc.fixes) >= 2 and loc.verified_fix is None
    assert all(not f.verified and f.after is not None for f in loc.fixes)
    # the output cast is inserted after the selector runs: the fix says it did not match
    assert "did not match" in loc.fixes[0].description
    # each selector is its own conversion-cache entry: the attempts measure different models
    assert len({f.after.worst_snr_db for f in loc.fixes}) == len(loc.fixes)
    assert len(list(tmp_path.glob("*/model.mlpackage"))) == 1 + len(loc.fixes)
    # the converter computes the multiplication in fp32: the cast to the fp16 output overflows
    assert loc.look_at is not None and loc.look_at.output == "y" and loc.look_at.overflow
    summary = loc.summary()
    assert "no verified fix" in summary and loc.look_at.name in summary
    assert any("program output 'y' is declared fp16" in h for h in loc.hints)


class Layers(nn.Module):
    """Four 64×64 linear layers; all but ``layers[2]`` hold 4 distinct weight values, which
    2-bit palettization keeps exactly; ``layers[2]`` is Gaussian and loses most of itself."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(4))
        gen = torch.Generator().manual_seed(0)
        levels = torch.tensor([-0.25, -0.125, 0.125, 0.25])
        with torch.no_grad():
            for index, layer in enumerate(self.layers):
                shape = layer.weight.shape
                layer.weight.copy_(torch.randn(shape, generator=gen) * 0.15 if index == 2 else
                                   levels[torch.randint(0, 4, shape, generator=gen)])

    def forward(self, x):
        for index, layer in enumerate(self.layers):
            x = layer(x)
            x = torch.relu(x) if index < 3 else x
        return x


WIDE = [{"x": np.random.default_rng(i).uniform(-1, 1, (1, 64)).astype(np.float32)}
        for i in range(2)]
WIDE_CONVERT = {"inputs": [ct.TensorType(name="x", shape=(1, 64))],
                "minimum_deployment_target": ct.target.iOS16}
PALETTE = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="kmeans", nbits=2))


@pytest.fixture(scope="module")
def palettized():
    model = Layers().eval()
    return model, localize(model, inputs=feeds(WIDE), convert=WIDE_CONVERT, tolerance=TOL,
                           compression=PALETTE)


def test_palettized_layer_is_named(palettized):
    _, loc = palettized
    assert not loc.before.passed  # wrong on purpose: palettizing every layer fails
    assert loc.kind == "compression" and not loc.before.passed
    weight, op = loc.suspect_weights[0]
    assert weight == "layers_2_weight_to_fp16"
    assert op.op_type == "linear" and op.weights == {"weight": weight}
    assert loc.first_over_budget.name == op.name
    # the exactly palettized layers add no error of their own
    others = [e for e in loc.ops if e.op_type == "linear" and e.name != op.name]
    assert others and all(e.added < 0.1 * op.added for e in others)


@pytest.mark.slow  # re-converts the model (1-4 s)
def test_excluding_the_weight_is_verified_and_its_printed_code_works(palettized):
    model, loc = palettized
    fix = loc.verified_fix
    assert fix is not None and fix.kind == "exclude_weights"
    assert fix.targets == ["layers_2_weight_to_fp16"]
    assert fix.after.passed and fix.after.worst_snr_db > 30 > fix.before.worst_snr_db
    traced = torch.jit.trace(model, torch.from_numpy(WIDE[0]["x"]))
    base = ct.convert(traced, convert_to="mlprogram", skip_model_load=True, **WIDE_CONVERT)
    fixed = eval(fix.code, {"cto": cto, "mlmodel": base})  # noqa: S307
    assert_equivalent(model, fixed, feeds(WIDE), TOL)
    # a variant compressed elsewhere, ranked against its base: the same weight, no fix tried
    variant = cto.palettize_weights(base, PALETTE)
    ranked = localize(model, variant, base=base, inputs=feeds(WIDE), tolerance=TOL)
    assert ranked.kind == "compression" and not ranked.before.passed and ranked.fixes == []
    assert ranked.suspect_weights[0][0] == "layers_2_weight_to_fp16"


class MaskedAttention(nn.Module):
    """Single-head attention with a Hugging Face style padding mask: scores + (1 − mask) ·
    sentinel; with torch.finfo(float32).min the sentinel is -inf in fp16 and 0 × -inf = NaN."""

    def __init__(self, sentinel: float):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.sentinel = sentinel

    def forward(self, x, mask):
        scores = self.q(x) @ self.k(x).transpose(-1, -2) / 8 ** 0.5
        scores = scores + ((1.0 - mask) * self.sentinel)[:, None, :]
        return torch.softmax(scores, -1) @ self.v(x)


TOKENS = [{"x": np.random.default_rng(i).uniform(-1, 1, (1, 4, 8)).astype(np.float32),
           "mask": np.array([[1, 1, 1, 0]], np.float32)} for i in range(2)]
TOKENS_CONVERT = {"inputs": [ct.TensorType(name="x", shape=(1, 4, 8)),
                             ct.TensorType(name="mask", shape=(1, 4))],
                  "minimum_deployment_target": ct.target.iOS16}


def _attention(sentinel: float) -> nn.Module:
    torch.manual_seed(0)
    return MaskedAttention(sentinel).eval()


@pytest.mark.slow  # re-converts the model (1-4 s)
def test_finfo_min_mask_gets_the_sentinel_hint_and_a_verified_fix():
    loc = localize(_attention(torch.finfo(torch.float32).min), inputs=feeds(TOKENS),
                   convert=TOKENS_CONVERT, tolerance=TOL)
    assert not loc.before.passed
    first = loc.hazards[0]
    assert first.op_type == "mul" and first.kind == "nonfinite" and not first.downstream
    assert loc.ranking[0].name == first.op and loc.ranking[0].overflow
    assert len(loc.hints) == 1 and "-1e4" in loc.hints[0] and "CML-F003" in loc.hints[0]
    assert loc.verified_fix is not None and loc.verified_fix.targets == [first.op]
    # the hint's own advice: the same model with a -1e4 sentinel passes in plain fp16
    assert_equivalent(_attention(-1e4), None, feeds(TOKENS), TOL, convert=TOKENS_CONVERT)


@pytest.mark.slow  # converts the model (1-4 s)
def test_an_fp32_program_has_nothing_to_localise():
    convert = {**CONVERT, "compute_precision": ct.precision.FLOAT32}
    loc = localize(_net(400.0), inputs=feeds(SAMPLES), convert=convert, tolerance=TOL)
    assert loc.kind == "fp32" and loc.before.passed and loc.ops == [] and loc.fixes == []
    assert "nothing to localise" in loc.summary()
    assert loc.to_dict()["timing"]["extra_runs"] == len(SAMPLES)  # the check, no recording


@pytest.mark.slow  # converts the model (1-4 s)
def test_a_failure_not_from_fp16_says_so():
    # wrong on purpose: a tolerance no conversion meets; fp16 compute adds nothing beyond it
    strict = Tolerance(min_snr_db=30, atol=0.0)
    loc = localize(_net(1.0), inputs=feeds(SAMPLES), convert=CONVERT, tolerance=strict,
                   fix=False)
    assert not loc.before.passed and loc.suspects == []
    assert "does not come from fp16 compute" in loc.summary()
