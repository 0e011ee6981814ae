"""Image preprocessing fixes: real conversions with a wrong ct.ImageType, corrected and re-run."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from torch import nn

from pytest_coremlcheck import Tolerance, images, tensors
from pytest_coremlcheck.check import CheckSettings
from pytest_coremlcheck.convert.cache import ConversionCache
from pytest_coremlcheck.localize.image_fixes import find_image_fix

from ..helpers import IMAGES

TOLERANCE = Tolerance(min_snr_db=60)


class ColourNet(nn.Module):
    """Expects RGB in [0, 1] (NCHW); conv → tanh → mean → linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    return ColourNet().eval()


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return CheckSettings(cache=ConversionCache(tmp_path_factory.mktemp("cache"), "on"))


def _convert(**image_type) -> dict:
    return {"inputs": [ct.ImageType(name="image", shape=(1, 3, 32, 32), **image_type)],
            "compute_precision": ct.precision.FLOAT32}


def test_missing_scale_is_found_and_verified(source, settings):
    search = find_image_fix(source, images(IMAGES), _convert(color_layout=ct.colorlayout.RGB),
                            TOLERANCE, settings=settings)
    fix = search.fix
    assert fix is not None and fix.verified
    assert fix.changes == {"scale": pytest.approx(1 / 255)}
    assert fix.code == "ct.ImageType(scale=1/255)"
    assert search.before.worst_snr_db < 10 and not search.before.passed
    assert fix.after.passed and fix.after.worst_snr_db > 100
    assert search.extra_runs == 1
    assert search.summary().startswith("passes with `ct.ImageType(scale=1/255)` on input "
                                       "'image' (re-converted): SNR ")
    report = search.to_dict()
    assert report["fix"]["verified"] and report["extra_runs"] == 1 and report["seconds"] > 0


@pytest.mark.slow
def test_rgb_bgr_swap_is_found_and_verified(source, settings):
    search = find_image_fix(source, images(IMAGES),
                            _convert(scale=1 / 255, color_layout=ct.colorlayout.BGR),
                            TOLERANCE, settings=settings)
    assert search.fix is not None
    assert search.fix.changes == {"color_layout": "RGB"}
    assert search.fix.code == "ct.ImageType(color_layout=ct.colorlayout.RGB)"
    assert all(not f.verified for f in search.tried[:-1])  # tried first: scale=1, failed
    assert search.tried[0].changes == {"scale": 1.0} and not search.tried[0].after.passed
    assert search.before.worst_snr_db < 30 < search.fix.after.worst_snr_db


def test_correct_conversion_gets_no_fix(source, settings):
    search = find_image_fix(source, images(IMAGES),
                            _convert(scale=1 / 255, color_layout=ct.colorlayout.RGB),
                            TOLERANCE, settings=settings)
    assert search.fix is None and search.tried == [] and search.extra_runs == 0
    assert search.reason == "the check passes" and search.before.passed
    assert search.summary() == "no image preprocessing fix proposed: the check passes"


def test_a_mistake_no_correction_covers_is_reported_unverified(source, settings):
    # the source is fed inverted images (1 − x): no scale, bias or layout change reproduces that
    inverted = images(IMAGES, preprocess=lambda img: 1 - np.asarray(
        img, np.float32).transpose(2, 0, 1)[None] / 255)
    search = find_image_fix(source, inverted,
                            _convert(scale=1 / 255, color_layout=ct.colorlayout.RGB),
                            TOLERANCE, settings=settings, max_tries=2)
    assert search.fix is None and len(search.tried) == 2
    assert search.summary() == ("no image preprocessing fix verified: 2 correction(s) tried, "
                                "none makes the check pass")
    assert all(f.summary().startswith("still fails with") for f in search.tried)


def test_tensor_inputs_are_not_searched(settings):
    linear = nn.Linear(3, 2).eval()
    plain = {"inputs": [ct.TensorType(name="x", shape=(1, 3))]}
    search = find_image_fix(linear, tensors(2), plain, Tolerance(min_snr_db=400),
                            settings=settings)
    assert search.reason == "the model has no RGB, BGR or grayscale image input"


@pytest.mark.slow
def test_near_misses_are_not_searched(source, settings):
    # fp16 compute misses a 100 dB limit by tens of dB, not by a preprocessing mistake
    fp16 = {**_convert(scale=1 / 255, color_layout=ct.colorlayout.RGB),
            "compute_precision": ct.precision.FLOAT16}
    search = find_image_fix(source, images(IMAGES), fp16, Tolerance(min_snr_db=100),
                            settings=settings)
    assert search.tried == [] and "fails near its tolerance" in search.reason


def _saved(source, tmp_path, convert_to: str, **image_type) -> str:
    """``source`` converted with ``image_type`` and saved (a file: no convert arguments)."""
    from pytest_coremlcheck.convert.on_the_fly import quiet

    extension = "mlpackage" if convert_to == "mlprogram" else "mlmodel"
    path = tmp_path / f"ColourNet.{extension}"
    precision = {"compute_precision": ct.precision.FLOAT32} if convert_to == "mlprogram" else {}
    with quiet():
        model = ct.convert(torch.jit.trace(source, torch.rand(1, 3, 32, 32)),
                           inputs=[ct.ImageType(name="image", shape=(1, 3, 32, 32), **image_type)],
                           convert_to=convert_to, skip_model_load=True, **precision)
    model.save(str(path))
    return str(path)


@pytest.mark.slow
def test_a_saved_ml_program_gets_its_missing_scale_by_a_spec_edit(source, settings, tmp_path):
    path = _saved(source, tmp_path, "mlprogram", color_layout=ct.colorlayout.RGB)
    search = find_image_fix(source, images(IMAGES), tolerance=TOLERANCE, converted=path,
                            settings=settings)
    assert search.fix is not None and search.fix.route == "model spec edited"
    assert search.fix.code == "ct.ImageType(scale=1/255)"
    assert search.before.worst_snr_db < 10 and search.fix.after.worst_snr_db > 100


@pytest.mark.slow
def test_a_saved_neuralnetwork_gets_its_colour_layout_by_a_spec_edit(source, settings,
                                                                      tmp_path):
    path = _saved(source, tmp_path, "neuralnetwork", scale=1 / 255,
                  color_layout=ct.colorlayout.BGR)
    search = find_image_fix(source, images(IMAGES), tolerance=TOLERANCE, converted=path,
                            settings=settings)
    assert search.fix.changes == {"color_layout": "RGB"}
    assert search.fix.route == "model spec edited" and search.fix.after.passed


def test_conversion_localisation_points_at_the_image_input(source):
    from pytest_coremlcheck.convert.on_the_fly import quiet
    from pytest_coremlcheck.localize import localize_conversion

    with quiet():
        converted = ct.convert(torch.jit.trace(source, torch.rand(1, 3, 32, 32)),
                               skip_model_load=True, **_convert(color_layout=ct.colorlayout.RGB))
    found = localize_conversion(source, converted, images(IMAGES), TOLERANCE)
    assert found.suspect.module == "conv" and found.verdict == "before module"
    assert found.suspect_ops == [] and [v for v, _ in found.inputs] == ["image"]
    assert "the model's inputs already disagree" in found.summary()
    assert "find_image_fix" in found.summary()


def test_a_failing_check_carries_the_verified_image_fix(source, tmp_path):
    """Through the check itself: the failure message names the fix; the verdict stays FAIL."""
    from pytest_coremlcheck import EquivalenceError, assert_equivalent

    with pytest.raises(EquivalenceError) as caught:
        assert_equivalent(source, inputs=images(IMAGES), tolerance=TOLERANCE,
                          convert=_convert(color_layout=ct.colorlayout.RGB),
                          cache_dir=tmp_path)
    result = caught.value.result
    assert not result.passed
    fix = result.localisation["image_fix"]["fix"]
    assert fix["verified"] and fix["code"] == "ct.ImageType(scale=1/255)"
    assert result.localisation["summary"].startswith("passes with `ct.ImageType(scale=1/255)`")
    assert "ct.ImageType(scale=1/255)" in str(caught.value)
    assert "conversion" in result.localisation  # the module-by-module comparison ran too
