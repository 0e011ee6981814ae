"""Pipelines against their source stages: the whole, and each stage on its own inputs."""

import coremltools as ct
import pytest
import torch
from torch import nn

from pytest_coremlcheck import EquivalenceError, assert_equivalent, tensors


def _extractor(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU()).eval()


def _head(seed=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 3), nn.Softmax(dim=-1)).eval()


@pytest.fixture(scope="module")
def pipeline_package(tmp_path_factory):
    extractor = ct.convert(torch.jit.trace(_extractor(), torch.rand(1, 8)),
                           inputs=[ct.TensorType(name="x", shape=(1, 8))],
                           outputs=[ct.TensorType(name="features")], skip_model_load=True,
                           minimum_deployment_target=ct.target.iOS16)
    head = ct.convert(torch.jit.trace(_head(), torch.rand(1, 16)),
                      inputs=[ct.TensorType(name="features", shape=(1, 16))],
                      outputs=[ct.TensorType(name="probs")], skip_model_load=True,
                      minimum_deployment_target=ct.target.iOS16)
    path = tmp_path_factory.mktemp("pipe") / "Pipeline.mlpackage"
    ct.utils.make_pipeline(extractor, head).save(str(path))
    return path


def test_whole_pipeline_and_each_stage(pipeline_package):
    results = assert_equivalent(None, pipeline_package, tensors(n=3),
                                source_stages=[_extractor(), _head()])
    names = [r.name for r in results]
    assert len(results) == 3 and names[1].endswith("[stage 0: " + names[1].split(": ")[-1])
    whole, first, second = results
    assert whole.source.startswith("2-stage pipeline")
    assert any(n.startswith("stage boundary features") for n in whole.notes)
    assert set(first.outputs) == {"features"} and set(second.outputs) == {"probs"}
    assert first.precision == "fp16"


def test_a_wrong_stage_is_named(pipeline_package):
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(None, pipeline_package, tensors(n=2),
                          source_stages=[_extractor(), _head(seed=7)])
    failing = [info.value.result] + info.value.also_failed
    assert any("[stage 1:" in r.name for r in failing)
    assert not any("[stage 0:" in r.name for r in failing)


def test_stage_count_mismatch(pipeline_package):
    from pytest_coremlcheck import CheckError

    with pytest.raises(CheckError, match="has 2 stage\\(s\\).*source_stages has 1"):
        assert_equivalent(None, pipeline_package, tensors(n=1),
                          source_stages=[nn.Sequential(_extractor(), _head())])
