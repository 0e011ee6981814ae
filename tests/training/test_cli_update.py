"""``coremlcheck update``: trains an updatable model from an .npz and writes an .mlmodel."""

from __future__ import annotations

import json

import coremltools as ct
import numpy as np

from pytest_coremlcheck.cli import main
from pytest_coremlcheck.reference import ReferenceModel

from .builders import classifier


def test_update_command_writes_a_model_that_loads_back(tmp_path, capsys):
    model = tmp_path / "Classifier.mlmodel"
    model.write_bytes(classifier().SerializeToString())
    rng = np.random.default_rng(1)
    data = tmp_path / "train.npz"
    np.savez(data, x=rng.normal(size=(6, 4)).astype(np.float32),
             probs_true=rng.integers(0, 2, size=(6, 1)).astype(np.int32))
    out = tmp_path / "Updated.mlmodel"
    code = main(["update", str(model), "--data", str(data), "--epochs", "3", "--param",
                 "shuffle=false", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("epoch ") == 3 and "epoch 3: loss" in printed
    spec = ct.models.MLModel(str(out)).get_spec()
    assert spec.isUpdatable
    before = ReferenceModel(model).predict({"x": np.ones(4, np.float32)})["probs"]
    after = ReferenceModel(out).predict({"x": np.ones(4, np.float32)})["probs"]
    assert not np.allclose(before, after)
    code = main(["update", str(model), "--data", str(data), "--json", "--out", str(out)])
    assert json.loads(capsys.readouterr().out)["training"]["config"]["epochs"] == 1


def test_update_command_reports_a_disallowed_epoch_count(tmp_path, capsys):
    model = tmp_path / "Classifier.mlmodel"
    model.write_bytes(classifier().SerializeToString())
    data = tmp_path / "train.npz"
    np.savez(data, x=np.zeros((2, 4), np.float32), probs_true=np.zeros((2, 1), np.int32))
    code = main(["update", str(model), "--data", str(data), "--epochs", "4",
                 "--out", str(tmp_path / "U.mlmodel")])
    assert code == 2
    assert "updateParams.epochs (override epochs=4) = 4 is not in the allowed set" in \
        capsys.readouterr().err
