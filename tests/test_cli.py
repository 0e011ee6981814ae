"""The coremlcheck command: info, predict, compare (exit codes and output)."""

import json

import numpy as np
import pytest
import torch

from pytest_coremlcheck.cli import main

from .helpers import tiny_conv_net, two_outputs


def test_info_describes_inputs_outputs_and_ops(saved_models, capsys):
    assert main(["info", str(saved_models["image_fp16"]), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["type"] == "mlProgram" and info["precision"] == "fp16"
    assert info["inputs"][0] == {"name": "image", "kind": "image", "shape": [1, 3, 32, 32],
                                 "color": "RGB"}
    assert info["outputs"][0]["name"] == "probs" and info["ops"]["conv"] == 1


def test_predict_writes_outputs(saved_models, tmp_path, capsys):
    inputs = tmp_path / "in.npz"
    np.savez(inputs, x=np.ones((1, 6), np.float32), y=np.zeros((1, 6), np.float32))
    out = tmp_path / "out.npz"
    assert main(["predict", str(saved_models["two_outputs"]), "--inputs", str(inputs),
                 "--out", str(out), "--backend", "reference"]) == 0
    assert "first: float32[1, 4]" in capsys.readouterr().out
    with np.load(out) as saved:
        expected = two_outputs()(torch.ones(1, 6), torch.zeros(1, 6))[0].detach().numpy()
        np.testing.assert_allclose(saved["first/0"], expected, atol=1e-6)


@pytest.fixture
def scripted_source(tmp_path):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.trace(tiny_conv_net(), torch.rand(1, 3, 32, 32)), str(path))
    return path


def test_compare_passes_and_fails_with_exit_codes(saved_models, scripted_source, tmp_path,
                                                 capsys):
    report = tmp_path / "r.json"
    assert main(["compare", str(scripted_source), str(saved_models["image_fp32"]),
                 "--samples", "2", "--report", str(report), "--backend", "reference"]) == 0
    assert "passed on reference executor, fp32" in capsys.readouterr().out
    assert json.loads(report.read_text())["summary"]["passed"] == 1
    assert main(["compare", str(scripted_source), str(saved_models["image_noscale"]),
                 "--samples", "2", "--min-snr-db", "40", "--backend", "reference"]) == 1
    assert "probs: SNR" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "gone.pt"), str(saved_models["image_fp32"])]) == 2
    assert "gone.pt does not exist" in capsys.readouterr().err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["predict"])
    assert info.value.code == 2


def test_missing_model_is_one_line_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "Nope.mlpackage")]) == 2
    assert "coremlcheck info: " in capsys.readouterr().err


def test_help_texts_are_plain_and_whole_sentences(capsys):
    import importlib

    from pytest_coremlcheck.cli import SUBCOMMANDS, _first_sentence, _plain, build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        assert "``" not in capsys.readouterr().out, name
    for module in SUBCOMMANDS.values():  # summaries are whole sentences
        summary = _first_sentence(_plain(importlib.import_module(module).__doc__))
        assert summary.endswith(".") and "``" not in summary, module
