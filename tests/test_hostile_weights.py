"""Damaged, missing or hostile ``weight.bin`` files: clear errors, never a hang."""

from __future__ import annotations

import os
import shutil
import signal
import struct
from contextlib import contextmanager
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch

from pytest_coremlcheck.cli import main
from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.errors import ModelLoadError

WEIGHT_BIN = Path("Data/com.apple.CoreML/weights/weight.bin")


@contextmanager
def no_hang(seconds: int = 30):
    """Fail instead of blocking forever (SIGALRM interrupts a blocking open())."""

    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def linear_package(tmp_path_factory) -> tuple[Path, Path]:
    """(an FP32 .mlpackage of Linear(16, 12) → relu, the TorchScript file it came from)."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 12), torch.nn.ReLU()).eval()
    traced = torch.jit.trace(model, torch.rand(1, 16))
    torch.jit.save(traced, str(root / "net.pt"))
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 16))],
                         outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                         compute_precision=ct.precision.FLOAT32, skip_model_load=True)
    mlmodel.save(str(root / "Linear.mlpackage"))
    return root / "Linear.mlpackage", root / "net.pt"


@pytest.fixture
def package(linear_package, tmp_path) -> Path:
    """A fresh copy of the package, free to damage."""
    copy = tmp_path / "Linear.mlpackage"
    shutil.copytree(linear_package[0], copy)
    return copy


def _records(weight_bin: Path) -> list[tuple[int, int, int]]:
    """(record offset, size in bytes, data offset) of every blob in the file."""
    data = weight_bin.read_bytes()
    count = struct.unpack_from("<I", data, 0)[0]
    records, offset = [], 64
    for _ in range(count):
        sentinel, _dtype, size, data_offset = struct.unpack_from("<IIQQ", data, offset)
        assert sentinel == 0xDEADBEEF
        records.append((offset, size, data_offset))
        offset = data_offset + size
        offset += -offset % 64
    return records


def test_intact_package_loads_every_constant_exactly(package, linear_package):
    """The executor reads the weights itself: its result matches numpy on the file's values."""
    weight_bin = package / WEIGHT_BIN
    records = _records(weight_bin)
    assert len(records) == 2
    blobs = [np.fromfile(weight_bin, np.float32, size // 4, offset=data_offset)
             for _, size, data_offset in records]
    bias = next(b for b in blobs if b.size == 12)
    weight = next(b for b in blobs if b.size == 192).reshape(12, 16)
    x = np.linspace(-1, 1, 16, dtype=np.float32)[None]
    expected = np.maximum(x.astype(np.float64) @ weight.T + bias, 0)
    got = ReferenceModel(package).predict({"x": x})["y"]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_fifo_weight_file_is_refused_not_read(package, linear_package, tmp_path, capsys):
    weight_bin = package / WEIGHT_BIN
    weight_bin.unlink()
    os.mkfifo(weight_bin)
    with no_hang():
        with pytest.raises(ModelLoadError, match="weight.bin is not a regular file"):
            ReferenceModel(package)
        assert main(["predict", str(package), "--backend", "reference"]) == 2
        assert "not a regular file" in capsys.readouterr().err
        assert main(["compare", str(linear_package[1]), str(package), "--samples", "1",
                     "--backend", "reference"]) == 2
        assert "not a regular file" in capsys.readouterr().err


def test_fifo_weight_file_fails_assert_equivalent(package, linear_package):
    from pytest_coremlcheck import assert_equivalent
    from pytest_coremlcheck.errors import CheckError

    weight_bin = package / WEIGHT_BIN
    weight_bin.unlink()
    os.mkfifo(weight_bin)
    source = torch.jit.load(str(linear_package[1]))
    with no_hang(), pytest.raises(CheckError, match="not a regular file"):
        assert_equivalent(source, package, backend="reference")


def test_git_lfs_pointer_says_how_to_fetch(package):
    (package / WEIGHT_BIN).write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 704\n")
    with pytest.raises(ModelLoadError, match=r"Git LFS pointer file.*git lfs pull"):
        ReferenceModel(package)


def test_truncated_weight_file_names_file_const_and_offset(package):
    weight_bin = package / WEIGHT_BIN
    records = _records(weight_bin)
    last_record = max(records)
    weight_bin.write_bytes(weight_bin.read_bytes()[:last_record[0] + 64 + 4])
    with pytest.raises(ModelLoadError) as info:
        ReferenceModel(package)
    message = str(info.value)
    assert "weights/weight.bin: const" in message
    assert f"blob at offset {last_record[0]}" in message and "truncated" in message


def test_truncated_inside_header(package):
    (package / WEIGHT_BIN).write_bytes(b"\x02\x00\x00\x00")
    with pytest.raises(ModelLoadError, match="4 bytes, shorter than its 64-byte header"):
        ReferenceModel(package)


def test_bad_header_version(package):
    weight_bin = package / WEIGHT_BIN
    data = bytearray(weight_bin.read_bytes())
    data[4:8] = struct.pack("<I", 7)
    weight_bin.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="storage version 7 in its header, expected 2"):
        ReferenceModel(package)


def test_bad_sentinel_names_const_and_offset(package):
    weight_bin = package / WEIGHT_BIN
    first = _records(weight_bin)[0][0]
    data = bytearray(weight_bin.read_bytes())
    data[first:first + 4] = b"\0\0\0\0"
    weight_bin.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"const '.+': no blob record at offset {first} "
                                             r"\(sentinel 0x00000000, expected 0xDEADBEEF\)"):
        ReferenceModel(package)


def test_size_past_the_end_names_the_blob(package):
    weight_bin = package / WEIGHT_BIN
    first = _records(weight_bin)[0][0]
    data = bytearray(weight_bin.read_bytes())
    data[first + 8:first + 16] = struct.pack("<Q", 1 << 40)
    weight_bin.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"blob at offset {first} holds {1 << 40} bytes"):
        ReferenceModel(package)


def test_size_that_disagrees_with_the_const_type(package):
    weight_bin = package / WEIGHT_BIN
    first, size, _ = _records(weight_bin)[0]
    data = bytearray(weight_bin.read_bytes())
    data[first + 8:first + 16] = struct.pack("<Q", size - 4)
    weight_bin.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"holds {size - 4} bytes, its type float32"):
        ReferenceModel(package)


def test_offset_past_the_end_of_the_file(package):
    weight_bin = package / WEIGHT_BIN
    size = weight_bin.stat().st_size
    records = _records(weight_bin)
    weight_bin.write_bytes(weight_bin.read_bytes()[:records[1][0]])
    with pytest.raises(ModelLoadError, match=rf"points at offset {records[1][0]}, outside"):
        ReferenceModel(package)
    assert weight_bin.stat().st_size < size


def test_missing_weight_file_names_it(package):
    (package / WEIGHT_BIN).unlink()
    with pytest.raises(ModelLoadError, match="weight.bin, which is missing"):
        ReferenceModel(package)


@pytest.mark.parametrize("relative", ["Manifest.json", "Data/com.apple.CoreML/model.mlmodel"])
def test_fifo_spec_or_manifest_is_refused(package, relative):
    (package / relative).unlink()
    os.mkfifo(package / relative)
    with no_hang(), pytest.raises(ModelLoadError, match=f"{relative} is not a regular file"):
        ReferenceModel(package)


def test_fifo_mlmodel_is_refused(tmp_path):
    os.mkfifo(tmp_path / "Model.mlmodel")
    with no_hang(), pytest.raises(ModelLoadError, match="Model.mlmodel is not a regular file"):
        ReferenceModel(tmp_path / "Model.mlmodel")
