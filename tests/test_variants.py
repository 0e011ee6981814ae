"""Variant chains: fp32 → fp16 → compressed, their error budget and their failures."""

import coremltools as ct
import pytest
import torch
from torch import nn

from pytest_coremlcheck import (
    CheckError,
    EquivalenceError,
    ResultSet,
    Tolerance,
    assert_equivalent,
    tensors,
)
from pytest_coremlcheck.convert.variants import NAMED, resolve


class Wide(nn.Module):
    """Big enough (> 2048 weights per layer) for coremltools to compress its layers."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(64, 128)
        self.b = nn.Linear(128, 32)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


CONVERT = dict(inputs=[ct.TensorType(name="x", shape=(1, 64))])


def test_chain_reports_each_step_against_source_and_previous(tmp_path):
    results = assert_equivalent(Wide().eval(), None, tensors(n=4), convert=CONVERT,
                                variants=("fp32", "fp16", "int8", "palettize4-uniform"),
                                cache_dir=tmp_path)
    assert isinstance(results, ResultSet) and results.passed
    assert [r.variant for r in results] == ["fp32", "fp16", "int8", "palettize4-uniform"]
    fp32, fp16, int8 = results.variant("fp32"), results.variant("fp16"), results.variant("int8")
    assert fp32.precision == "fp32" and fp16.precision == "fp16"
    assert int8.step == "fp16 → int8" and fp16.step == "fp32 → fp16"
    assert fp32.outputs[next(iter(fp32.outputs))].snr_db > fp16.outputs[
        next(iter(fp16.outputs))].snr_db
    assert set(int8.step_outputs) == set(int8.outputs)  # metrics against the fp16 step
    assert int8.tolerance == NAMED["int8"].tolerance
    assert int8.model == "int8 of the fp16 model"
    assert not any("no weight was compressed" in n for r in results for n in r.notes)


def test_variant_that_compresses_nothing_says_so(tmp_path):
    tiny = nn.Linear(8, 4).eval()  # 32 weights: under coremltools' weight_threshold
    int8 = assert_equivalent(tiny, None, tensors(n=2),
                             convert=dict(inputs=[ct.TensorType(name="x", shape=(1, 8))]),
                             variants=("int8",), cache_dir=tmp_path)
    assert int8.variant == "int8"
    assert any(n.startswith("variant int8: no weight was compressed") for n in int8.notes)


def test_a_failing_variant_names_its_step(tmp_path):
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(Wide().eval(), None, tensors(n=2), convert=CONVERT,
                          variants=("fp16", "palettize1-uniform"), cache_dir=tmp_path,
                          tolerance={"palettize1-uniform": Tolerance(min_snr_db=40)})
    result = info.value.result
    assert result.variant == "palettize1-uniform"
    text = str(info.value)
    assert "variant:  palettize1-uniform (step fp16 → palettize1-uniform)" in text
    assert "Against the previous step (fp16 → palettize1-uniform)" in text


def test_custom_variant_callable(tmp_path):
    import coremltools.optimize.coreml as cto

    def prune_half(model):
        config = cto.OpMagnitudePrunerConfig(target_sparsity=0.5)
        return cto.prune_weights(model, cto.OptimizationConfig(global_config=config))

    results = assert_equivalent(Wide().eval(), None, tensors(n=2), convert=CONVERT,
                                variants=[{"mine": prune_half}, "fp16"],
                                tolerance={"mine": Tolerance(min_cosine=0.1)},
                                cache_dir=tmp_path)
    assert results.variant("mine").step == "fp16 → mine"


def test_unknown_variant_lists_the_valid_names():
    with pytest.raises(CheckError, match="unknown variant 'int3'; valid names: fp32, fp16"):
        resolve(["int3"])


def test_variant_needing_a_newer_target_says_which(tmp_path):
    convert = dict(CONVERT, minimum_deployment_target=ct.target.iOS16)
    with pytest.raises(CheckError, match="need minimum_deployment_target iOS18.*iOS16"):
        assert_equivalent(Wide().eval(), None, tensors(n=1), convert=convert,
                          variants=("int4-block",), cache_dir=tmp_path)


def test_variants_of_a_given_fp32_model(tmp_path, saved_models):
    from .helpers import tiny_conv_net

    with pytest.raises(CheckError, match="int8.*needs minimum_deployment_target iOS16"):
        assert_equivalent(tiny_conv_net(), saved_models["image_fp32"], tensors(n=1),
                          variants=("int8",), cache_dir=tmp_path)
    results = assert_equivalent(tiny_conv_net(), saved_models["image_fp32"], tensors(n=2),
                                variants=("fp32", "fp16"), cache_dir=tmp_path)
    assert [r.precision for r in results] == ["fp32", "fp16"]
    # the fp16 model derived from the file keeps its image input
    assert results.variant("fp16").inputs.startswith("tensors")
