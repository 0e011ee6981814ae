"""``coremlcheck compare``: module:callable sources, --inputs specs, --tolerance, progress."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from pytest_coremlcheck.cli import main

from .helpers import tiny_conv_net

MODULE = """
import torch
from torch import nn

torch.manual_seed(0)


class TinyConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return torch.softmax(self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))), dim=-1)


def build():
    torch.manual_seed(0)
    return TinyConvNet().eval()


def other():
    torch.manual_seed(1)
    return TinyConvNet().eval()


def broken():
    raise RuntimeError("weights missing")


class Zoo:
    path = "net.pt"


def feed():
    import numpy as np

    return {"image": np.full((32, 32, 3), 128, np.uint8)}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory holding a module (unique name per test) and a TorchScript file."""
    name = f"zoo_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    torch.jit.save(torch.jit.trace(tiny_conv_net(), torch.rand(1, 3, 32, 32)),
                   str(tmp_path / "net.pt"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path, name
    sys.modules.pop(name, None)


def run(capsys, *argv):
    code = main(["compare", *argv, "--backend", "reference", "--progress", "off"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_module_callable_source_passes_and_other_weights_fail(project, saved_models, capsys):
    _, name = project
    model = str(saved_models["image_fp32"])
    code, out, _ = run(capsys, f"{name}:build", model, "--inputs", "random:2")
    assert code == 0, out
    assert "passed on reference executor" in out and "probs" in out
    code, out, _ = run(capsys, f"{name}:other", model, "--inputs", "random:2")
    assert code == 1 and "probs: SNR" in out


def test_attribute_path_to_a_file(project, saved_models, capsys):
    _, name = project
    code, out, _ = run(capsys, f"{name}:Zoo.path", str(saved_models["image_fp32"]),
                       "--samples", "2")
    assert code == 0, out


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:build", "cannot import module 'no_such_module_xyz'"),
    ("{name}:missing", "has no attribute 'missing'"),
    ("{name}:broken", "calling broken() raised RuntimeError: weights missing"),
    ("gone.pt", "gone.pt does not exist"),
])
def test_bad_source_specs_exit_2_with_one_line(project, saved_models, capsys, spec, message):
    _, name = project
    code, _, err = run(capsys, spec.format(name=name), str(saved_models["image_fp32"]))
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_corrupt_torchscript_names_the_file(project, saved_models, capsys):
    root, _ = project
    (root / "bad.pt").write_bytes(b"not a zip")
    code, _, err = run(capsys, "bad.pt", str(saved_models["image_fp32"]))
    assert code == 2 and "bad.pt: not a readable TorchScript file" in err


def test_inputs_specs_npz_images_and_random(project, saved_models, capsys, tmp_path):
    root, name = project
    model = str(saved_models["image_fp32"])
    pictures = root / "pictures"
    pictures.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
            pictures / f"{index}.png")
    report = root / "r.json"
    code, out, _ = run(capsys, f"{name}:build", model, "--inputs", "pictures",
                       "--report", str(report))
    assert code == 0, out
    assert "2 sample(s)" in json.loads(report.read_text())["checks"][0]["inputs"]
    np.savez(root / "x.npz", image=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    code, out, _ = run(capsys, f"{name}:build", model, "--inputs", "x.npz")
    assert code == 0, out
    code, out, _ = run(capsys, f"{name}:build", model, "--inputs", f"{name}:feed")
    assert code == 0, out
    for spec, message in [("random:0", "random:N with N a positive integer"),
                          (f"{name}:nothing", f"inputs {name}:nothing: {name} has no attribute"),
                          ("nothing.npz", "nothing.npz does not exist"),
                          ("empty_dir/*.png", "no image files")]:
        code, _, err = run(capsys, f"{name}:build", model, "--inputs", spec)
        assert code == 2 and message in err, err


def test_tolerance_text_and_flags(project, saved_models, capsys):
    _, name = project
    noscale = str(saved_models["image_noscale"])
    code, out, _ = run(capsys, f"{name}:build", noscale, "--samples", "2",
                       "--tolerance", "min_cosine=-1")
    assert code == 0 and "min_cosine≥-1" in out
    code, out, _ = run(capsys, f"{name}:build", noscale, "--samples", "2",
                       "--tolerance", "min_cosine=-1", "--min-snr-db", "40")
    assert code == 1 and "min_snr_db" in out
    code, _, err = run(capsys, f"{name}:build", noscale, "--tolerance", "snr=40")
    assert code == 2 and "--tolerance: unknown tolerance field(s) snr" in err


def test_plain_progress_lines_when_not_a_terminal(project, saved_models, capsys):
    _, name = project
    code = main(["compare", f"{name}:build", str(saved_models["image_fp32"]), "--samples", "3",
                 "--backend", "reference"])
    err = capsys.readouterr().err
    assert code == 0
    assert "coremlcheck: load model 1/1" in err
    assert "coremlcheck: source 3/3" in err
    assert "on reference executor" in err and "3/3" in err
