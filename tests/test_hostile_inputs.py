"""Hostile inputs: huge sample counts and shapes, wrong callables, 16-bit images, globs that
leave their directory, inputs random values cannot fill. Every one a clear error, fast."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.proto import Model_pb2
from PIL import Image

from pytest_coremlcheck import assert_equivalent, images, tensors
from pytest_coremlcheck.cli import main
from pytest_coremlcheck.coreml.features import describe
from pytest_coremlcheck.declarative.spec import DeclaredCheckError, read_check_file
from pytest_coremlcheck.errors import CheckError
from pytest_coremlcheck.inputs.limits import MAX_SAMPLES
from pytest_coremlcheck.inputs.spec import inputs_from_spec
from pytest_coremlcheck.reference import ReferenceModel

from .test_hostile_weights import no_hang

HUGE = (1, 3, 100000, 100000)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A relu program with a 1×3×100000×100000 input, a small one, a double-input spec and the
    TorchScript of a relu."""
    root = tmp_path_factory.mktemp("hostile_inputs")

    @mb.program(input_specs=[mb.TensorSpec(shape=HUGE)])
    def huge(x):
        return mb.relu(x=x, name="y")

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def small(x):
        return mb.relu(x=x, name="y")

    out = {"relu_pt": root / "relu.pt"}
    torch.jit.save(torch.jit.trace(torch.nn.ReLU(), torch.rand(1, 4)), str(out["relu_pt"]))
    for name, program in (("huge", huge), ("small", small)):
        out[name] = root / f"{name}.mlpackage"
        ct.convert(program, convert_to="mlprogram", skip_model_load=True,
                   compute_precision=ct.precision.FLOAT32).save(str(out[name]))
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    spec.description.input.add(name="d").type.doubleType.SetInParent()
    output = spec.description.output.add(name="y")
    output.type.multiArrayType.shape.extend([1])
    output.type.multiArrayType.dataType = Model_pb2.ArrayFeatureType.FLOAT32
    spec.neuralNetwork.SetInParent()
    out["double"] = root / "Double.mlmodel"
    out["double"].write_bytes(spec.SerializeToString())
    return out


def compare(capsys, *argv) -> tuple[int, str]:
    code = main(["compare", *argv, "--backend", "reference", "--progress", "off"])
    return code, capsys.readouterr().err


def test_sample_count_is_bounded_before_anything_is_generated(models, capsys):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"at most {MAX_SAMPLES:,} samples.*1,000,000,000"):
        tensors(n=10**9)
    with pytest.raises(ValueError, match="at most 10,000 samples"):
        inputs_from_spec("random:999999999999")
    code, err = compare(capsys, str(models["relu_pt"]), str(models["small"]),
                        "--inputs", "random:999999999999")
    assert code == 2
    assert "at most 10,000 samples are generated per check (asked for 999,999,999,999)" in err
    assert err.count("\n") == 1
    code, err = compare(capsys, str(models["relu_pt"]), str(models["small"]),
                        "--samples", str(10**12))
    assert code == 2 and "at most 10,000 samples" in err
    assert time.perf_counter() - start < 5
    assert len(tensors(n=MAX_SAMPLES).materialize(
        describe(ReferenceModel(models["small"]).spec.description.input))) == MAX_SAMPLES


def test_huge_input_is_refused_in_every_entry_point(models, capsys):
    message = "one sample needs 111.8 GiB, over the 2.0 GiB limit per sample; input 'x' of shape"
    with pytest.raises(CheckError, match=message):
        assert_equivalent(torch.nn.ReLU(), models["huge"], backend="reference")
    code, err = compare(capsys, str(models["relu_pt"]), str(models["huge"]))
    assert code == 2 and message in err and err.count("\n") == 1
    assert main(["predict", str(models["huge"]), "--backend", "reference"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "COREMLCHECK_MAX_SAMPLE_BYTES" in err


def test_sample_byte_limit_is_overridable(models, monkeypatch):
    features = describe(ReferenceModel(models["small"]).spec.description.input)
    assert len(tensors(n=1).materialize(features)) == 1
    with pytest.raises(ValueError, match="one sample needs 16 bytes, over the 8 bytes limit"):
        tensors(n=1, max_sample_bytes=8).materialize(features)
    monkeypatch.setenv("COREMLCHECK_MAX_SAMPLE_BYTES", "8")
    with pytest.raises(ValueError, match="over the 8 bytes limit"):
        tensors(n=1).materialize(features)
    monkeypatch.setenv("COREMLCHECK_MAX_SAMPLE_BYTES", "1K")
    assert len(tensors(n=1).materialize(features)) == 1
    monkeypatch.setenv("COREMLCHECK_MAX_SAMPLE_BYTES", "lots")
    with pytest.raises(ValueError, match="COREMLCHECK_MAX_SAMPLE_BYTES='lots': expected"):
        tensors(n=1).materialize(features)


@pytest.fixture
def project(tmp_path, monkeypatch):
    name = f"feeds_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import numpy as np

        def number():
            return 42

        def numbers():
            return [1, 2]

        def good():
            return {"x": np.ones((1, 4), np.float32)}
    """))
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def test_inputs_callable_of_the_wrong_type(models, project, capsys):
    args = (str(models["relu_pt"]), str(models["small"]))
    code, err = compare(capsys, *args, "--inputs", f"{project}:number")
    assert code == 2 and err.count("\n") == 1
    assert f"inputs {project}:number: returned int; expected images(...)" in err
    code, err = compare(capsys, *args, "--inputs", f"{project}:numbers")
    assert code == 2 and f"inputs {project}:numbers: returned a list of int; expected" in err
    code, err = compare(capsys, *args, "--inputs", f"{project}:good")
    assert code == 0, err


def test_random_values_for_a_double_input_speak_the_entry_points_language(models, capsys):
    with pytest.raises(CheckError, match=r"input 'd': cannot generate random values for double "
                                         r"inputs; pass inputs=\{'d': ...\}"):
        assert_equivalent(torch.nn.ReLU(), models["double"], backend="reference")
    code, err = compare(capsys, str(models["relu_pt"]), str(models["double"]))
    assert code == 2
    assert "pass --inputs x.npz holding an array named 'd'" in err and "inputs={" not in err
    assert main(["predict", str(models["double"]), "--backend", "reference"]) == 2
    err = capsys.readouterr().err
    assert "pass --inputs x.npz holding an array named 'd'" in err and "inputs={" not in err


def test_predict_out_prints_the_file_it_wrote(models, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["predict", str(models["small"]), "--backend", "reference", "--out",
                 str(out)]) == 0
    err = capsys.readouterr().err
    assert f"outputs written to {out}.npz" in err
    assert (tmp_path / "results.npz").is_file() and not out.exists()
    assert main(["predict", str(models["small"]), "--backend", "reference", "--out",
                 str(tmp_path / "named.npz")]) == 0
    assert f"written to {tmp_path / 'named.npz'}\n" in capsys.readouterr().err


def _png16(path: Path) -> np.ndarray:
    """A 32×32 16-bit grayscale PNG spanning 0…65535; returns its values."""
    values = (np.arange(32 * 32).reshape(32, 32) * 64 + 63).clip(0, 65535).astype(np.uint16)
    values[0, 0], values[-1, -1] = 0, 65535
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    return values


def test_16_bit_png_is_scaled_to_8_bits(saved_models, tmp_path):
    values = _png16(tmp_path / "deep.png")
    expected = np.floor(values / 257.0 + 0.5).astype(np.uint8)
    assert expected.min() == 0 and expected.max() == 255 and np.unique(expected).size > 200
    features = describe(ReferenceModel(saved_models["image_fp32"]).spec.description.input)
    (sample,) = images(tmp_path / "deep.png").materialize(features)
    pixels = np.asarray(sample.coreml["image"])
    for channel in range(3):
        np.testing.assert_array_equal(pixels[..., channel], expected)
    np.testing.assert_allclose(sample.source["image"][0, 1], expected / 255.0, atol=1e-7)


def test_16_bit_image_given_to_the_executor_matches_its_8_bit_version(saved_models, tmp_path):
    values = _png16(tmp_path / "deep.png")
    model = ReferenceModel(saved_models["image_fp32"])
    eight = Image.fromarray(np.floor(values / 257.0 + 0.5).astype(np.uint8)).convert("RGB")
    deep = Image.open(tmp_path / "deep.png")
    np.testing.assert_array_equal(model.predict({"image": deep})["probs"],
                                  model.predict({"image": eight})["probs"])
    with pytest.raises(ValueError, match="32-bit float image.*convert it to an 8-bit image"):
        model.predict({"image": Image.fromarray(values.astype(np.float32))})


@pytest.mark.parametrize("glob, message", [
    ("/**/*.png", "absolute paths are not allowed here"),
    ("../**/*.png", "leads outside"),
    ("pictures/../../*.png", "leads outside"),
])
def test_toml_input_globs_stay_in_the_toml_directory(tmp_path, glob, message):
    (tmp_path / "gate").mkdir()
    toml = tmp_path / "gate" / "coremlcheck.toml"
    toml.write_text(f'[[check]]\nsource = "gate_zoo:build"\ninputs = "{glob}"\n')
    start = time.perf_counter()
    with pytest.raises(DeclaredCheckError, match=f"check\\[0\\]: inputs: .*{message}"):
        read_check_file(toml)
    assert time.perf_counter() - start < 2


def test_toml_input_glob_relative_to_the_toml_file(tmp_path, monkeypatch):
    (tmp_path / "gate" / "pictures").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "gate" / "pictures" / "a.png")
    toml = tmp_path / "gate" / "coremlcheck.toml"
    toml.write_text('[[check]]\nsource = "gate_zoo:build"\ninputs = "pictures/**/*.png"\n')
    monkeypatch.chdir(tmp_path)
    (gate,) = read_check_file(toml)
    assert gate.inputs.files() == [tmp_path / "gate" / "pictures" / "a.png"]


def test_image_globs_are_bounded(tmp_path, monkeypatch):
    images_module = sys.modules["pytest_coremlcheck.inputs.images"]
    for index in range(4):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{index}.png")
    assert len(images(tmp_path / "*.png").files()) == 4
    monkeypatch.setattr(images_module, "MAX_FILES", 3)
    with pytest.raises(ValueError, match="matches more than 3 image files"):
        images(tmp_path / "*.png").files()
    with pytest.raises(ValueError, match="matches more than 3 image files"):
        images(tmp_path).files()


def test_huge_input_fails_the_pytest_check_with_the_message(pytester, models):
    pytester.makepyfile(test_huge=f"""
        import torch

        def test_huge(coreml_check):
            coreml_check(torch.nn.ReLU(), {str(models["huge"])!r})
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--coreml-backend",
                                          "reference")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*one sample needs 111.8 GiB, over the 2.0 GiB limit*"])


def test_fifo_inputs_are_refused_not_read(models, saved_models, tmp_path, capsys):
    import os

    from pytest_coremlcheck.inputs import feeds

    os.mkfifo(tmp_path / "x.npz")
    os.mkfifo(tmp_path / "a.png")
    features = describe(ReferenceModel(saved_models["image_fp32"]).spec.description.input)
    with no_hang(), pytest.raises(ValueError, match="x.npz is not a regular file"):
        feeds(tmp_path / "x.npz").materialize(features)
    with no_hang(), pytest.raises(ValueError, match="a.png is not a regular file"):
        images(tmp_path / "*.png").materialize(features)
    with no_hang():
        assert main(["predict", str(models["small"]), "--backend", "reference", "--inputs",
                     str(tmp_path / "x.npz")]) == 2
    assert "x.npz is not a regular file" in capsys.readouterr().err
