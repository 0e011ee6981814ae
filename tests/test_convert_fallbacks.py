"""Converting on the fly where TorchScript cannot: dict outputs, ExportedPrograms, numpy 2.4."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck import EquivalenceError, assert_equivalent, tensors
from pytest_coremlcheck.convert.on_the_fly import numpy_hint


class DictOutputs(nn.Module):
    """Returns a dict, as torchvision's segmentation models do: not traceable by TorchScript."""

    def __init__(self, shift: float = 0.0):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)
        self.shift = shift

    def forward(self, x):
        y = self.conv(x)
        return {"out": y, "aux": y * 2 + self.shift}


def test_dict_outputs_convert_through_torch_export_and_say_so():
    import coremltools as ct

    convert = {"inputs": [ct.TensorType(name="x", shape=(1, 3, 8, 8))],
               "compute_precision": ct.precision.FLOAT32}
    result = assert_equivalent(DictOutputs().eval(), None, inputs=tensors(2), convert=convert)
    assert result.passed and len(result.output_results) == 2
    assert any("torch.jit.trace failed" in n and "torch.export" in n for n in result.notes)


def test_exported_program_in_training_dialect_takes_its_inputs_from_its_examples():
    class MatMul(nn.Module):
        def forward(self, x, y):
            return x @ y

    exported = torch.export.export(MatMul(), (torch.randn(2, 3), torch.randn(3, 4)))
    result = assert_equivalent(exported, None, inputs=tensors(2))
    [output] = result.output_results.values()
    assert result.passed and output.metrics.shape == (2, 4)


def test_wrong_exported_conversion_still_fails():
    """The fallback path compares like any other: a source that differs must fail."""
    import coremltools as ct

    source = DictOutputs(shift=0.0).eval()
    converted = ct.convert(torch.export.export(DictOutputs(shift=0.5).eval(),
                                               (torch.rand(1, 3, 8, 8),)).run_decompositions({}),
                           convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                           skip_model_load=True)
    with pytest.raises(EquivalenceError):
        assert_equivalent(source, converted, inputs=tensors(2))


def test_numpy_scalar_error_names_the_fix_only_under_an_affected_numpy(monkeypatch):
    error = TypeError("only 0-dimensional arrays can be converted to Python scalars")
    monkeypatch.setattr(np, "__version__", "2.3.5")
    assert numpy_hint(error) == ""
    monkeypatch.setattr(np, "__version__", "2.4.1")
    assert "numpy<2.4" in numpy_hint(error)
    assert numpy_hint(TypeError("something else")) == ""
