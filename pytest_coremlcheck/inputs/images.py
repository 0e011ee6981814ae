"""Real image files fed to both models, resized once so both see the same pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from glob import iglob
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..coreml.features import Feature
from ..coreml.image import eight_bit
from ..reference.errors import InputError
from .base import DEFAULT_PREPROCESS_TEXT, Sample, default_preprocess
from .limits import check_sample_size

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
RESIZE_POLICIES = ("fit", "center_crop", "fill")
#: most image files one images() source reads
MAX_FILES = 10_000


@dataclass(frozen=True)
class images:  # noqa: N801 - public API reads as a function call
    """Images from a directory, a file or a glob.

    Each image is resized to the model's image-input size by ``resize`` — ``"fit"`` (scale to
    fit inside, pad with black: Vision's scaleFit), ``"center_crop"`` (scale to cover, crop
    the centre: centerCrop) or ``"fill"`` (stretch: scaleFill). Core ML receives the resized
    image; the source receives ``preprocess(resized image)`` (default: RGB float32 in [0, 1],
    NCHW, batch 1). For a multi-array model input both sides receive the preprocessed array.
    ``size`` (width, height) overrides the model's size (needed for flexible sizes).
    16-bit grayscale images are scaled to 8 bits (round(v / 257)); 32-bit ones are refused.
    A glob matches at most 10,000 files; one sample is at most ``max_sample_bytes`` (default
    2 GiB, see ``inputs.limits``).
    """

    path: str | Path
    preprocess: Callable | None = None
    size: tuple[int, int] | None = None
    resize: str = "fit"
    max_sample_bytes: int | None = None

    def __post_init__(self):
        if self.resize not in RESIZE_POLICIES:
            raise ValueError(f"images(resize={self.resize!r}): expected one of "
                             f"{', '.join(RESIZE_POLICIES)}")

    def files(self) -> list[Path]:
        """The image files, sorted; raises naming the path when there are none or more than
        MAX_FILES."""
        path = Path(self.path)
        if path.is_dir():
            found = _bounded(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found = [path]
        else:
            found = _bounded(Path(p) for p in iglob(str(self.path), recursive=True)
                             if Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not found and not any(ch in str(self.path) for ch in "*?["):
                raise FileNotFoundError(f"images: {self.path} does not exist")
        if not found:
            raise ValueError(f"images: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                             f"in {self.path}")
        if len(found) > MAX_FILES:
            raise ValueError(f"images: {self.path} matches more than {MAX_FILES:,} image files; "
                             "use a narrower directory or glob")
        return sorted(found)

    def materialize(self, features: list[Feature]) -> list[Sample]:
        targets = [f for f in features if f.kind in ("image", "array")]
        if len(targets) != 1 or len(features) != 1:
            names = ", ".join(f"{f.name} ({f.kind})" for f in features)
            raise ValueError(f"images() feeds a model with exactly one image input; this model "
                             f"has {names or 'no inputs'}. Pass a dict of inputs instead.")
        feature = targets[0]
        check_sample_size(features, f"images({self.path})", self.max_sample_bytes)
        preprocess = self.preprocess or default_preprocess
        samples = []
        for file in self.files():
            image = self._load(file, feature)
            source = np.asarray(preprocess(image))
            coreml = image if feature.kind == "image" else source.astype(feature.dtype)
            samples.append(Sample(file.name, {feature.name: coreml}, {feature.name: source}))
        return samples

    def describe(self) -> str:
        pre = getattr(self.preprocess, "__name__", repr(self.preprocess)) if self.preprocess \
            else DEFAULT_PREPROCESS_TEXT
        return f"images({self.path}, resize={self.resize}); source preprocess: {pre}"

    def _load(self, file: Path, feature: Feature) -> Image.Image:
        if not file.is_file():
            raise ValueError(f"images: {file} is not a regular file (a FIFO, device or "
                             "directory); expected an image file")
        try:
            with Image.open(file) as opened:
                image = eight_bit(ImageOps.exif_transpose(opened), f"images: {file}")
                grayscale = feature.kind == "image" and feature.color.startswith("GRAYSCALE")
                image = image.convert("L" if grayscale else "RGB")
        except InputError:
            raise
        except Exception as exc:
            raise ValueError(f"images: cannot read {file}: {exc}") from None
        size = self.size or _model_size(feature)
        if size is None:
            raise ValueError(f"images: input {feature.name!r} has no fixed image size; pass "
                             "size=(width, height)")
        return resize_image(image, size, self.resize)


def _bounded(paths) -> list[Path]:
    """Up to MAX_FILES + 1 of ``paths``: enough to tell that there are too many, no more."""
    found = []
    for path in paths:
        found.append(path)
        if len(found) > MAX_FILES:
            break
    return found


def _model_size(feature: Feature) -> tuple[int, int] | None:
    if feature.kind == "image":
        return feature.image_size
    if len(feature.shape) == 4:
        return (feature.shape[3], feature.shape[2])
    return None


def resize_image(image: Image.Image, size: tuple[int, int], policy: str) -> Image.Image:
    """Resize to ``size`` (width, height) by ``policy`` with bilinear filtering."""
    size = (int(size[0]), int(size[1]))
    if image.size == size:
        return image
    if policy == "fill":
        return image.resize(size, Image.BILINEAR)
    if policy == "center_crop":
        return ImageOps.fit(image, size, Image.BILINEAR)
    return ImageOps.pad(image, size, Image.BILINEAR, color=0)
