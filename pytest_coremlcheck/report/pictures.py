"""Pictures of image outputs: source, converted and |difference| as PNGs (first sample).

Kept for failing image outputs; for passing ones too when asked (an HTML report shows them).
The |difference| is amplified so its largest value is bright: gain = min(255 // max|a − b|,
``MAX_GAIN``) (1 when nothing differs), written into the PNG as the text chunk ``GAIN_KEY``; a
difference below one 8-bit step still shows (``|a − b|·gain`` rounded)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

#: Longest side of a kept picture, in pixels.
MAX_SIDE = 256
#: Largest amplification of a |difference| picture, and the PNG text key that records it.
MAX_GAIN = 1024
GAIN_KEY = "coremlcheck-gain"


def image_writer(directory: Path | None, check_name: str, *, passing: bool = False):
    """A ``compare_outputs`` callback ``write(output, pairs, passed) -> paths`` writing the
    first sample of a failing image output, and of a passing one when ``passing``."""
    if directory is None:
        return None

    def write(output: str, pairs, passed: bool) -> list[str]:
        if passed and not passing:
            return []
        converted, source = pairs[0]
        folder = Path(directory) / _safe(check_name)
        folder.mkdir(parents=True, exist_ok=True)
        diff = np.abs(np.asarray(converted, np.float64) - np.asarray(source, np.float64))
        gain = diff_gain(diff)
        pictures = {"source": _to_image(source), "converted": _to_image(converted),
                    "diff": _to_image(diff * gain)}
        # Named by content too: checks of the same name in other tests keep their own pictures.
        digest = hashlib.sha256(b"".join(p.tobytes() for p in pictures.values())).hexdigest()
        paths = []
        for kind, picture in pictures.items():
            path = folder / f"{_safe(output)}-{digest[:10]}-{kind}.png"
            info = PngInfo()
            if kind == "diff":
                info.add_text(GAIN_KEY, str(gain))
            picture.save(path, pnginfo=info)
            paths.append(str(path))
        return paths

    return write


#: A kept picture's name: ``<output>-<10 hex digits of its content hash>-<kind>.png``
_PICTURE = re.compile(r".+-[0-9a-f]{10}-(source|converted|diff)\.png")


def clear_pictures(directory: Path | None) -> int:
    """Delete the pictures an earlier session kept under ``directory`` (only files named like
    kept pictures; anything else stays). Returns how many were removed."""
    if directory is None or not Path(directory).is_dir():
        return 0
    removed = 0
    for path in Path(directory).glob("*/*.png"):
        if _PICTURE.fullmatch(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def diff_gain(diff: np.ndarray) -> int:
    """Amplification of a |difference| picture: 255 // max, at least 1, at most MAX_GAIN."""
    finite = diff[np.isfinite(diff)]
    peak = float(finite.max()) if finite.size else 0.0
    if peak <= 0:
        return 1
    return int(min(max(255 // peak, 1), MAX_GAIN))


def _to_image(array) -> Image.Image:
    pixels = np.clip(np.rint(np.asarray(array, np.float64)), 0, 255).astype(np.uint8)
    pixels = pixels.reshape(pixels.shape[-3:])
    image = Image.fromarray(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    return image


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "check"
