"""``coremlcheck compare`` exits 0 only when a comparison ran and passed; non-finite tolerance
values are usage errors; ``coremlcheck report --baseline`` that compared nothing exits 2."""

import json
import sys
import textwrap

import coremltools as ct
import numpy as np
import pytest
import torch

from pytest_coremlcheck.cli import main
from pytest_coremlcheck.gates.baseline import Baseline, write_baseline

from .test_cli_compare import run

EXITING = """
from torch import nn

class Twice(nn.Module):
    def forward(self, x):
        return x * 2.0

def build():
    return Twice().eval()

def leave():
    raise SystemExit(3)
"""


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    """A converted y = 2x on (1, 4)."""
    root = tmp_path_factory.mktemp("twice")

    class Twice(torch.nn.Module):
        def forward(self, x):
            return x * 2.0

    path = root / "Twice.mlpackage"
    ct.convert(torch.jit.trace(Twice().eval(), torch.rand(1, 4)),
               inputs=[ct.TensorType(name="x", shape=(1, 4))], outputs=[ct.TensorType(name="y")],
               convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
               skip_model_load=True).save(str(path))
    return str(path)


@pytest.fixture
def exiting(tmp_path, monkeypatch):
    name = f"exiting_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(EXITING))
    (tmp_path / f"{name}_gone.py").write_text("import sys\nsys.exit(5)\n")
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)
    sys.modules.pop(f"{name}_gone", None)


@pytest.mark.parametrize("flags, message", [
    (["--tolerance", "min_snr_db=nan"],
     "--tolerance: min_snr_db must be a finite number, got nan"),
    (["--tolerance", "min_cosine=0.5", "--atol", "inf"],
     "--atol: atol must be a finite number, got inf"),
    (["--min-snr-db", "nan"], "--min-snr-db: min_snr_db must be a finite number"),
    (["--mismatch-ratio", "2"], "--mismatch-ratio: mismatch_ratio must lie in [0, 1]"),
])
def test_non_finite_tolerance_is_a_usage_error(exiting, twice, capsys, flags, message):
    code, out, err = run(capsys, f"{exiting}:build", twice, "--samples", "1", *flags)
    assert code == 2 and message in err and "passed" not in out


def test_source_that_exits_is_exit_2(exiting, twice, capsys):
    code, out, err = run(capsys, f"{exiting}:leave", twice, "--samples", "1")
    assert code == 2 and "calling leave() raised SystemExit(3) (sys.exit was called)" in err
    code, out, err = run(capsys, f"{exiting}_gone:build", twice, "--samples", "1")
    assert code == 2 and f"cannot import module '{exiting}_gone'" in err
    assert "SystemExit(5)" in err


def test_nothing_compared_is_exit_2(exiting, twice, capsys, tmp_path):
    code, out, _ = run(capsys, f"{exiting}:build", twice, "--samples", "1")
    assert code == 0 and "passed" in out
    feeds = tmp_path / "nan.npz"
    np.savez(feeds, x=np.full((1, 4), np.nan, np.float32))
    code, out, err = run(capsys, f"{exiting}:build", twice, "--inputs", str(feeds))
    assert code == 2 and "cannot run: nothing was compared" in err and "passed" not in out
    assert "source produced NaN in output y (4 of 4 values)" in out


def test_report_baseline_that_compares_nothing_is_exit_2(exiting, twice, capsys, tmp_path):
    report = tmp_path / "run.json"
    code, _, _ = run(capsys, f"{exiting}:build", twice, "--samples", "1",
                     "--report", str(report))
    assert code == 0
    empty = tmp_path / "baseline.json"
    write_baseline(empty, Baseline())
    assert main(["report", str(report), "--baseline", str(empty)]) == 2
    assert "nothing was compared: none of the 1 check(s) in the report has an entry" in \
        capsys.readouterr().err
    full = tmp_path / "full.json"
    write_baseline(full, Baseline().updated(json.loads(report.read_text())["checks"]))
    assert main(["report", str(report), "--baseline", str(full)]) == 0


def test_report_that_cannot_be_written_is_exit_2_after_the_table(exiting, twice, capsys,
                                                                  tmp_path):
    (tmp_path / "file").write_text("x")
    code, out, err = run(capsys, f"{exiting}:build", twice, "--samples", "1",
                         "--report", str(tmp_path / "file" / "r.json"))
    assert code == 2 and "passed" in out
    assert f"report {tmp_path / 'file' / 'r.json'} not written:" in err
