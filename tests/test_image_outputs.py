"""Image outputs: 8-bit comparison with PSNR and SSIM, and pictures of failures."""

import json

import coremltools as ct
import pytest
import torch
from PIL import Image
from torch import nn

from pytest_coremlcheck import EquivalenceError, Tolerance, assert_equivalent, images
from pytest_coremlcheck.report import write_report

from .helpers import IMAGES


class Restyle(nn.Module):
    def __init__(self, shift: float = 0.0):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.shift = shift

    def forward(self, x):
        return torch.sigmoid(self.conv(x) + self.shift) * 255


def _convert():
    return dict(inputs=[ct.ImageType(name="image", shape=(1, 3, 40, 40), scale=1 / 255)],
                outputs=[ct.ImageType(name="styled")], minimum_deployment_target=ct.target.iOS16,
                compute_precision=ct.precision.FLOAT32)


@pytest.fixture(scope="module")
def styled_package(tmp_path_factory):
    path = tmp_path_factory.mktemp("styled") / "Styled.mlpackage"
    traced = torch.jit.trace(Restyle().eval(), torch.rand(1, 3, 40, 40))
    ct.convert(traced, skip_model_load=True, **_convert()).save(str(path))
    return path


def test_image_output_metrics(styled_package):
    result = assert_equivalent(Restyle().eval(), styled_package, images(IMAGES),
                               tolerance=Tolerance(min_psnr_db=40, min_ssim=0.99))
    m = result.outputs["styled"]
    assert m.image and m.ssim is not None and m.ssim > 0.99
    assert m.max_abs <= 1.0  # rounding to 8 bits only


def test_failing_image_output_keeps_pictures(styled_package, tmp_path):
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(Restyle(shift=0.7).eval(), styled_package, images(IMAGES),
                          tolerance=Tolerance(min_ssim=0.999), artifacts_dir=tmp_path / "art")
    result = info.value.result
    out = result.output_results["styled"]
    assert any("SSIM" in f and "min_ssim=0.999" in f for f in out.failures)
    kinds = sorted(p.rsplit("-", 1)[1] for p in out.artifacts)
    assert kinds == ["converted.png", "diff.png", "source.png"]
    for path in out.artifacts:
        with Image.open(path) as picture:
            assert max(picture.size) <= 256
    assert "Pictures of the failing image outputs" in str(info.value)
    report = write_report(tmp_path / "r.md", [dict(result.to_dict(), test="t")])
    text = report.read_text()
    assert "![styled diff](<art/" in text
    data = json.loads(write_report(tmp_path / "r.json", [result.to_dict()]).read_text())
    assert data["checks"][0]["outputs"]["styled"]["artifacts"] == out.artifacts


def test_pictures_of_an_earlier_session_are_cleared_at_start(pytester):
    folder = pytester.path / "reports" / "coreml-artifacts" / "old_check"
    folder.mkdir(parents=True)
    stale = folder / "styled-0123456789-diff.png"
    stale.write_bytes(b"png")
    other = folder / "notes.png"
    other.write_bytes(b"kept: not named like a kept picture")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.runpytest_inprocess("--coreml-report=reports/r.json").assert_outcomes(passed=1)
    assert not stale.exists()
    assert other.exists()
