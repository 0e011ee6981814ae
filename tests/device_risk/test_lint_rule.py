"""CML-F005: fp16 ops whose device kernels are reported to overflow inside, found statically."""

import coremltools as ct
import pytest
import torch
from torch import nn

from pytest_coremlcheck.lint import lint


class SoftplusThenNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        return self.norm(nn.functional.softplus(x))


def _save(tmp_path, name, precision):
    traced = torch.jit.trace(SoftplusThenNorm().eval(), torch.zeros(1, 4, 16))
    model = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 4, 16))],
                       compute_precision=precision, minimum_deployment_target=ct.target.iOS16,
                       skip_model_load=True)
    path = tmp_path / f"{name}.mlpackage"
    model.save(str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("device_risk_lint")
    keep = ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type != "softplus")
    return {"fp16": _save(directory, "fp16", ct.precision.FLOAT16),
            "kept": _save(directory, "kept", keep),
            "fp32": _save(directory, "fp32", ct.precision.FLOAT32)}


def _f005(path):
    return {f.message.split(" computes")[0]: f for f in lint(path).findings if f.id == "CML-F005"}


def test_softplus_warns_and_layer_norm_informs(models):
    found = _f005(models["fp16"])
    [softplus] = [f for k, f in found.items() if "'softplus'" in k]
    [norm] = [f for k, f in found.items() if "'layer_norm'" in k]
    assert softplus.severity == "warning" and norm.severity == "info"
    assert "--coreml-fp16-mode=device-risk" in softplus.message
    assert 'op.op_type != "softplus"' in softplus.message


def test_ops_kept_in_fp32_are_not_reported(models):
    assert not any("'softplus'" in k for k in _f005(models["kept"]))
    assert any("'layer_norm'" in k for k in _f005(models["kept"]))
    assert not _f005(models["fp32"])
