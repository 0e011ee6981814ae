"""``coremlcheck compare module:callable`` with a Keras model as the source."""

import sys

import coremltools as ct

from pytest_coremlcheck.cli import main

from .helpers import dense_two_inputs
from .test_checks import convert

MODULE = """
from tests.tensorflow.helpers import dense_two_inputs


def build():
    return dense_two_inputs(seed=0)


def other():
    return dense_two_inputs(seed=1)
"""


def test_keras_model_from_module_callable(tmp_path, monkeypatch, capsys):
    name = f"keras_zoo_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    model = tmp_path / "TwoInputs.mlpackage"
    convert(dense_two_inputs(seed=0), convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT32).save(str(model))
    monkeypatch.chdir(tmp_path)
    try:
        args = [str(model), "--inputs", "random:2", "--backend", "reference", "--progress", "off"]
        assert main(["compare", f"{name}:build", *args]) == 0
        assert "passed on reference executor" in capsys.readouterr().out
        assert main(["compare", f"{name}:other", *args]) == 1
        assert "FAILED" in capsys.readouterr().out
    finally:
        sys.modules.pop(name, None)


