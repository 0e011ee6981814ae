"""`coremlcheck info`, `lint` and `predict` over real published Core ML files (the corpus in
/work/shared/wild-models, or $COREMLCHECK_WILD_MODELS; never copied into the repository).

Every command ends without a traceback; the linter reports no error-level finding beyond the
expected ones listed here with their reason; `predict` either runs or stops with a one-line
reason; the ImageNet classifiers name a plausible class for scikit-image's sample photos.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pytest_coremlcheck.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(os.environ.get("COREMLCHECK_WILD_MODELS", "/work/shared/wild-models"))

#: file → {rule id: reason}: true error-level findings (Core ML rejects or cannot load these).
_MISSING_WEIGHTS = {"CML-V010": "weights/weight.bin absent or a Git LFS pointer in the copy"}
EXPECTED_ERRORS = {
    "archdanny_newcoreml.mlmodel": {
        "CML-M006": "isUpdatable set without training inputs or a loss layer",
        "CML-V004": "updatable model declaring spec 1; Model::validate requires spec 4",
    },
    "nbnitin_ObjectDetector.mlmodel": {"CML-V000": "the protobuf is corrupt (DecodeError)"},
    "DETRResnet50SemanticSegmentationF16_lfsptr.mlpackage": _MISSING_WEIGHTS,
    "cse450_resnet.mlpackage": _MISSING_WEIGHTS,
    "depth_anything_v2_small.mlpackage": _MISSING_WEIGHTS,
    "mlcommons_MobileBERT.mlpackage": _MISSING_WEIGHTS,
    "mlcommons_MobilenetEdgeTPU.mlpackage": _MISSING_WEIGHTS,
    "rtmpose-m.mlpackage": _MISSING_WEIGHTS,
    "yolo11n_kartoone_lfsptr.mlpackage": _MISSING_WEIGHTS,
    "yolov8n_mzietera.mlpackage": _MISSING_WEIGHTS,
}

#: ImageNet classifiers → photo → words of which one must be in the top class.
PHOTOS = {
    "chelsea.jpg": ("cat", "tabby", "lynx"),
    "coffee.jpg": ("coffee", "cup", "espresso", "eggnog"),
}
IMAGENET_CLASSIFIERS = ("SqueezeNetFP16.mlmodel", "SqueezeNetInt8LUT.mlmodel")


def _files() -> list[Path]:
    if not ROOT.is_dir():
        return []
    return sorted(p for d in ("models", "speconly") if (ROOT / d).is_dir()
                  for p in (ROOT / d).iterdir() if p.suffix in (".mlmodel", ".mlpackage"))


def _params():
    files = _files()
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no wild models at {ROOT}"))]
    return [pytest.param(p, id=p.name) for p in files]


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, f"coremlcheck {argv[0]} {argv[1]}:\n{out}\n{err}"
    return code, out, err


@pytest.mark.parametrize("path", _params())
def test_info_lint_predict(path, capsys, tmp_path):
    code, out, err = _run(capsys, "info", path)
    unreadable = "CML-V000" in EXPECTED_ERRORS.get(path.name, {})
    assert code == (2 if unreadable else 0), err

    code, out, err = _run(capsys, "lint", path, "--format", "json")
    data = json.loads(out)
    errors = {f["id"] for f in data["findings"] if f["severity"] in ("error", "fatal")}
    crashes = [f["message"] for f in data["findings"] if f["id"] == "CML-V999"]
    assert crashes == []
    assert errors == set(EXPECTED_ERRORS.get(path.name, {})), data["findings"]
    assert code == (1 if errors else 0)

    code, out, err = _run(capsys, "predict", path, "--out", tmp_path / "y.npz")
    if code != 0:  # a model the executor does not run, or inputs it cannot invent
        lines = err.strip().splitlines()
        assert code == 2 and lines[-1].startswith("coremlcheck predict: "), err


def _top_class(out: str) -> str:
    match = re.search(r"classLabel: '?([^'\n]+)'?", out)
    assert match, out
    return match.group(1).lower()


@pytest.mark.parametrize("model", IMAGENET_CLASSIFIERS)
@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_imagenet_classifier_names_the_photo(model, photo, capsys):
    path, image = ROOT / "models" / model, ROOT / "data" / "photos" / photo
    if not path.exists() or not image.exists():
        pytest.skip(f"{path} or {image} absent")
    code, out, err = _run(capsys, "predict", path, "--images", image)
    assert code == 0, err
    top = _top_class(out)
    assert any(word in top for word in PHOTOS[photo]), f"{model} on {photo}: {top!r}"
