"""End-to-end checks through assert_equivalent: real conversions, real files."""

import coremltools as ct
import numpy as np
import pytest
import torch

from pytest_coremlcheck import (
    CheckError,
    EquivalenceError,
    Tolerance,
    assert_equivalent,
    images,
    tensors,
)

from .helpers import IMAGES, tiny_conv_net, two_outputs


def test_correct_conversion_passes_with_the_fp32_default(saved_models):
    result = assert_equivalent(tiny_conv_net(), saved_models["image_fp32"],
                               images(IMAGES, resize="fill"), backend="reference")
    assert result.passed and result.backend == "reference"
    assert result.platform == "reference executor, fp32"
    floor = result.noise_floor  # the FP32 default: the source's float32 noise floor
    assert floor["used"] == "measured"
    assert result.tolerance.for_output("probs").min_snr_db == floor["limits_db"]["probs"]
    metrics = result.outputs["probs"]
    assert metrics.samples == 5 and metrics.snr_db > 100
    d = result.to_dict()
    assert {"name", "passed", "backend", "platform", "tolerance", "outputs"} <= set(d)
    assert d["outputs"]["probs"]["passed"] is True


def test_missing_input_scale_fails_with_a_readable_table(saved_models):
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(tiny_conv_net(), saved_models["image_noscale"], images(IMAGES),
                          backend="reference")
    text = str(info.value)
    assert "FAILED" in text and "ImageNoScale.mlpackage" in text
    assert "backend:  reference (reference executor, fp32)" in text
    assert "probs" in text and "SNR" in text and "tightest tolerance" in text
    assert not info.value.result.passed


def test_perturbed_weight_fails(saved_models):
    with pytest.raises(EquivalenceError, match="probs: (SNR|cosine)"):
        assert_equivalent(tiny_conv_net(), saved_models["image_perturbed"],
                          tensors(n=4))


def test_fp16_program_passes_its_default_but_not_an_fp32_grade_tolerance(saved_models):
    result = assert_equivalent(tiny_conv_net(), saved_models["image_fp16"], tensors(n=4))
    assert result.precision == "fp16" and result.tolerance.min_snr_db == 30.0
    with pytest.raises(EquivalenceError, match="probs: SNR .* < min_snr_db=120"):
        assert_equivalent(tiny_conv_net(), saved_models["image_fp16"], tensors(n=4),
                          tolerance=Tolerance(min_snr_db=120))


def test_atol_path_fails_on_purpose(saved_models):
    with pytest.raises(EquivalenceError, match="of elements exceed atol=1e-09"):
        assert_equivalent(tiny_conv_net(), saved_models["image_fp16"], tensors(n=2),
                          tolerance=Tolerance(atol=1e-9))


def test_psnr_and_top1_paths_fail_on_purpose(saved_models):
    with pytest.raises(EquivalenceError, match="PSNR .* < min_psnr_db=500"):
        assert_equivalent(tiny_conv_net(), saved_models["image_fp32"], tensors(n=2),
                          tolerance=Tolerance(min_psnr_db=500))
    class ClassesReversed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = tiny_conv_net()

        def forward(self, x):
            return self.net(x).flip(-1)

    with pytest.raises(EquivalenceError, match="top-1 agreement 0 < min_top1=1"):
        assert_equivalent(ClassesReversed(), saved_models["image_fp32"], tensors(n=4),
                          tolerance=Tolerance(min_top1=1.0))


def test_per_output_tolerance_and_multiple_outputs(saved_models):
    result = assert_equivalent(two_outputs(), saved_models["two_outputs"], tensors(n=3),
                               tolerance=Tolerance(min_cosine=0.999,
                                                   per_output={"second": Tolerance(atol=1e-5)}))
    assert set(result.outputs) == {"first", "second"}
    assert result.output_results["second"].tolerance.atol == 1e-5
    wrong = two_outputs(seed=5)
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(wrong, saved_models["two_outputs"], tensors(n=3))
    assert {f.split(":")[0] for f in info.value.result.failures} == {"first", "second"}


def test_on_the_fly_conversion_from_tensor_types():
    model = tiny_conv_net()
    convert = dict(inputs=[ct.TensorType(name="x", shape=(1, 3, 32, 32))],
                   compute_precision=ct.precision.FLOAT32)
    result = assert_equivalent(model, None, tensors(n=2), convert=convert)
    assert result.passed and "converted on the fly (mlProgram" in result.model
    # the same convert dict works twice: ct types are copied per conversion
    assert assert_equivalent(model, None, tensors(n=2), convert=convert).passed
    assert convert["inputs"][0].shape.shape == (1, 3, 32, 32)


def test_on_the_fly_conversion_from_an_explicit_feed():
    feed = {"x": np.random.default_rng(0).random((1, 6), dtype=np.float32),
            "y": np.ones((1, 6), np.float32)}
    result = assert_equivalent(two_outputs(), None, feed,
                               convert=dict(compute_precision=ct.precision.FLOAT32))
    assert result.passed and len(result.outputs) == 2


def test_torch_export_program_as_source(saved_models):
    exported = torch.export.export(two_outputs(), (torch.ones(1, 6), torch.ones(1, 6)))
    assert assert_equivalent(exported, saved_models["two_outputs"], tensors(n=2)).passed


def test_scripted_module_as_source(saved_models):
    scripted = torch.jit.script(two_outputs())
    assert assert_equivalent(scripted, saved_models["two_outputs"], tensors(n=2)).passed


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("missing_path", "converted model: .*does_not_exist.mlpackage: no such file"),
        ("corrupt", "converted model: .*corrupt.mlmodel: not a valid Core ML model"),
        ("wrong_names", "unknown input name.*'?bogus'?"),
        ("wrong_shape", "shape \\(1, 9\\) does not match the model's \\(1, 6\\)"),
        ("empty_dir", "no image files"),
        ("source_raises", "source model on .*: the source model raised RuntimeError: boom"),
        ("output_count", "the source returns 1 output\\(s\\), the converted model declares 2"),
    ],
)
def test_bad_input_is_a_clear_check_error(case, pattern, saved_models, tmp_path):
    source, converted, inputs = two_outputs(), saved_models["two_outputs"], tensors(n=1)
    if case == "missing_path":
        converted = tmp_path / "does_not_exist.mlpackage"
    elif case == "corrupt":
        converted = tmp_path / "corrupt.mlmodel"
        converted.write_bytes(b"\x00\x01\x02junk")
    elif case == "wrong_names":
        inputs = {"bogus": np.ones((1, 6)), "x": np.ones((1, 6))}
    elif case == "wrong_shape":
        inputs = {"x": np.ones((1, 9), np.float32), "y": np.ones((1, 6), np.float32)}
    elif case == "empty_dir":
        inputs = images(tmp_path)
        converted = saved_models["image_fp32"]
        source = tiny_conv_net()
    elif case == "source_raises":
        class Raises(torch.nn.Module):
            def forward(self, x, y):
                raise RuntimeError("boom")
        source = Raises()
    elif case == "output_count":
        class OneOutput(torch.nn.Module):
            def forward(self, x, y):
                return x + y
        source = OneOutput()
    with pytest.raises(CheckError, match=pattern):
        assert_equivalent(source, converted, inputs)


def test_text_encoder_converts_on_the_fly():
    """(The torch.export fallback is tested with a model TorchScript cannot trace, in
    test_convert_fallbacks.py.)"""
    import zoo

    result = assert_equivalent(zoo.text_encoder(), None, tensors(n=2, high=zoo.VOCAB),
                               convert=zoo.text_encoder_convert(),
                               tolerance=Tolerance(min_cosine=0.999))
    assert result.passed and result.output_results
