"""Image-preprocessing fixes: a corrected ``ct.ImageType``, applied and the check re-run.

Core ML applies ``y = scale · pixel + bias`` per channel to an image input, in the declared
colour layout. A correction is applied by re-converting the source with the corrected
``ct.ImageType`` (when the check's ``ct.convert`` arguments are known) or by editing the
converted model's spec (a model given as a file: ``image_spec``). The usual mistakes, and the
corrections tried for each (``_single_corrections``):

- ``scale``: pixels in [0, 255] where the source expects [0, 1] (``scale=1/255`` forgotten) or
  the opposite → ``1/255`` for a scale of 1, 1 for 1/255, else ``scale/255`` and ``scale·255``;
- ``bias`` sign: ``+mean`` instead of ``−mean`` → ``−bias``;
- mean/std normalisation (ImageNet's ``Normalize``): ``scale = 1/(255·std)``,
  ``bias = −mean/std``, with std the channels' mean (one ``scale`` for all channels);
- colour layout: RGB ↔ BGR (a per-channel bias reversed with it).

Single corrections are tried first, then pairs of corrections of different kinds; the search
stops at the first that makes the check pass. Only a passing correction is "verified".
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: below this worst-output SNR a failing check is "far off" (a preprocessing mistake measures
#: around 0 dB or less; a precision or kernel difference tens of dB)
FAR_OFF_SNR_DB = 40.0


@dataclass
class Outcome:
    """A check's verdict and, per output, its SNR (dB) and cosine similarity."""

    passed: bool
    snr_db: dict[str, float]
    cosine: dict[str, float]

    @property
    def worst_snr_db(self) -> float:
        return min(self.snr_db.values(), default=math.nan)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "snr_db": dict(self.snr_db), "cosine": dict(self.cosine)}


@dataclass
class ImageFix:
    """One corrected ``ImageType`` tried: what changed, and the check before and after."""

    input: str
    changes: dict[str, Any]
    before: Outcome
    after: Outcome
    seconds: float
    #: how the correction was applied: "re-converted" or "model spec edited"
    route: str = "re-converted"

    @property
    def verified(self) -> bool:
        return self.after.passed

    @property
    def code(self) -> str:
        """The correction as code to paste, e.g. ``ct.ImageType(scale=1/255)``."""
        return "ct.ImageType(" + ", ".join(f"{k}={_code(k, v)}"
                                           for k, v in self.changes.items()) + ")"

    def summary(self) -> str:
        verdict = "passes" if self.verified else "still fails"
        return (f"{verdict} with `{self.code}` on input {self.input!r} ({self.route}): SNR "
                f"{_db(self.before.worst_snr_db)} → {_db(self.after.worst_snr_db)} dB")

    def to_dict(self) -> dict:
        return {"input": self.input, "changes": {k: _json(v) for k, v in self.changes.items()},
                "code": self.code, "route": self.route, "verified": self.verified,
                "before": self.before.to_dict(),
                "after": self.after.to_dict(), "seconds": self.seconds,
                "summary": self.summary()}


@dataclass
class ImageFixSearch:
    """What ``find_image_fix`` did: the corrections tried and the verified one, if any."""

    before: Outcome | None
    tried: list[ImageFix] = field(default_factory=list)
    #: why nothing was tried ("" when corrections were tried)
    reason: str = ""
    seconds: float = 0.0

    @property
    def fix(self) -> ImageFix | None:
        """The verified correction (None when none made the check pass)."""
        return next((f for f in self.tried if f.verified), None)

    @property
    def extra_runs(self) -> int:
        """Checks run besides the original one (one conversion and run per correction)."""
        return len(self.tried)

    def summary(self) -> str:
        if self.reason:
            return f"no image preprocessing fix proposed: {self.reason}"
        if self.fix is not None:
            return self.fix.summary()
        return (f"no image preprocessing fix verified: {len(self.tried)} correction(s) tried, "
                "none makes the check pass")

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "reason": self.reason,
                "before": self.before.to_dict() if self.before else None,
                "fix": self.fix.to_dict() if self.fix else None,
                "tried": [f.to_dict() for f in self.tried], "seconds": self.seconds,
                "extra_runs": self.extra_runs}


def find_image_fix(source, inputs, convert: dict[str, Any] | None = None, tolerance=None, *,
                   converted=None, settings=None, before=None, max_tries: int = 24,
                   far_off_snr_db: float = FAR_OFF_SNR_DB) -> ImageFixSearch:
    """Correct the ``ct.ImageType`` preprocessing of a failing check until it passes.

    With ``convert`` (the check's ``ct.convert`` arguments, holding ``ct.ImageType`` inputs)
    each correction re-converts ``source`` (through ``settings.cache``); with ``converted``
    instead (a model file, an ``MLModel``), each edits the model's spec (``image_spec``).
    ``inputs`` and ``tolerance`` are the check's; ``before`` is the failing check's results
    (run here when None). Each correction costs one check run.
    """
    started = time.perf_counter()
    targets, attempt, route = _route(source, inputs, convert, converted, tolerance, settings)
    before_results = before if before is not None else _check(
        source, inputs, None if route == "re-converted" else converted, convert, tolerance,
        settings)
    outcome = outcome_of(before_results)
    reason = _reason_to_skip(outcome, targets, far_off_snr_db)
    search = ImageFixSearch(outcome, reason=reason)
    if not reason:
        for key, changes in itertools.islice(_corrections(
                [(key, item) for key, _, item in targets]), max_tries):
            t0 = time.perf_counter()
            after = outcome_of(attempt(key, changes))
            name = next(n for k, n, _ in targets if k == key)
            search.tried.append(ImageFix(name, changes, outcome, after,
                                         time.perf_counter() - t0, route))
            if after.passed:
                break
    search.seconds = time.perf_counter() - started
    return search


def _route(source, inputs, convert, converted, tolerance, settings):
    """(image inputs as (key, name, ImageType-like), how to run a correction, route name)."""
    declared = _image_inputs(convert or {})
    if declared or converted is None:
        targets = [(i, item.name or f"input_{i}", item) for i, item in declared]
        return targets, lambda key, changes: _check(
            source, inputs, None, _with_changes(convert, key, changes), tolerance,
            settings), "re-converted"
    from ..coreml.loading import load_model
    from .image_spec import image_inputs

    loaded = load_model(converted)
    found = image_inputs(loaded.spec)
    targets = [(i, p.name, p) for i, p in enumerate(found)]
    return targets, lambda key, changes: _check(
        source, inputs, _edited(loaded, found[key], changes), None, tolerance,
        settings), "model spec edited"


def _edited(loaded, current, changes: dict[str, Any]):
    """The loaded model with one image input's preprocessing changed, as an MLModel."""
    import coremltools as ct

    from .image_spec import with_preprocessing

    spec = with_preprocessing(loaded.spec, current.name, changes.get("scale", current.scale),
                              changes.get("bias", current.bias),
                              changes.get("color_layout", current.color_layout))
    return ct.models.MLModel(spec, weights_dir=loaded.weights_dir, skip_model_load=True)


def outcome_of(results) -> Outcome:
    """The verdict and per-output SNR / cosine of a check's results (every result)."""
    results = list(results)
    snr, cosine = {}, {}
    for result in results:
        for name, metrics in result.outputs.items():
            if metrics is not None:
                key = name if len(results) == 1 else f"{result.name}: {name}"
                snr[key], cosine[key] = metrics.snr_db, metrics.cosine
    return Outcome(all(r.passed for r in results), snr, cosine)


def _check(source, inputs, converted, convert, tolerance, settings):
    from ..check import run_check

    return run_check(source, converted, inputs=inputs, convert=convert, tolerance=tolerance,
                     settings=settings)


def _image_inputs(convert: dict[str, Any]) -> list[tuple[int, Any]]:
    import coremltools as ct

    return [(i, item) for i, item in enumerate(convert.get("inputs") or [])
            if isinstance(item, ct.ImageType)]


def _reason_to_skip(outcome: Outcome, images: list, far_off_snr_db: float) -> str:
    if not images:
        return "the model has no RGB, BGR or grayscale image input"
    if outcome.passed:
        return "the check passes"
    if not outcome.worst_snr_db < far_off_snr_db:
        return (f"the check fails near its tolerance (worst SNR "
                f"{_db(outcome.worst_snr_db)} dB ≥ {far_off_snr_db:g} dB), not far off as a "
                "preprocessing mistake would")
    return ""


def _corrections(images: list[tuple[int, Any]]):
    """(input index, changed ImageType fields): single corrections first, then pairs."""
    per_input = [(index, _single_corrections(item)) for index, item in images]
    for index, singles in per_input:
        for _, changes in singles:
            yield index, changes
    for index, singles in per_input:
        for (kind_a, a), (kind_b, b) in itertools.combinations(singles, 2):
            if kind_a == kind_b:
                continue
            if "layout" in (kind_a, kind_b):  # a per-channel bias follows its channels
                other, swap = (b, a) if kind_a == "layout" else (a, b)
                bias = {"bias": _reversed(other["bias"])} if "bias" in other else {}
                yield index, {**other, **swap, **bias}
            elif not set(a) & set(b):
                yield index, {**a, **b}


def _single_corrections(item) -> list[tuple[str, dict[str, Any]]]:
    """(kind, changed fields) for one ImageType, likeliest first: scale, bias sign, colour
    layout, mean/std."""
    scale, bias = float(item.scale), item.bias
    found: list[tuple[str, dict[str, Any]]] = [("scale", {"scale": s}) for s in _scales(scale)]
    if any(b != 0 for b in _as_list(bias)):
        found.append(("bias", {"bias": _negated(bias)}))
    layout = _layout_name(item)
    if layout not in ("RGB", "BGR"):
        return found
    changes: dict[str, Any] = {"color_layout": "BGR" if layout == "RGB" else "RGB"}
    if isinstance(bias, (list, tuple)) and len(set(bias)) > 1:
        changes["bias"] = list(bias)[::-1]
    found.append(("layout", changes))
    mean = IMAGENET_MEAN if layout == "RGB" else IMAGENET_MEAN[::-1]
    std = sum(IMAGENET_STD) / 3
    found.append(("normalize", {"scale": 1.0 / (255.0 * std), "bias": [-m / std for m in mean]}))
    found.append(("normalize", {"scale": 1.0 / 255.0, "bias": [-m for m in mean]}))
    return found


def _scales(scale: float) -> list[float]:
    """``1/255`` for a model left at 1, 1 for one already at 1/255, else both directions."""
    if math.isclose(scale, 1.0):
        return [1.0 / 255.0]
    if math.isclose(scale, 1.0 / 255.0):
        return [1.0]
    return [scale / 255.0, scale * 255.0]


def _with_changes(convert: dict[str, Any], index: int, changes: dict[str, Any]) -> dict:
    """A deep copy of ``convert`` whose input ``index`` has ``changes`` applied."""
    import coremltools as ct

    fixed = copy.deepcopy(convert)
    item = fixed["inputs"][index]
    for key, value in changes.items():
        if key == "color_layout":
            value = getattr(ct.colorlayout, value)
        setattr(item, key, value)
    return fixed


def _layout_name(item) -> str:
    return getattr(item.color_layout, "name", str(item.color_layout)).upper()


def _as_list(bias) -> list[float]:
    return [float(b) for b in bias] if isinstance(bias, (list, tuple)) else [float(bias)]


def _negated(bias):
    return [-float(b) for b in bias] if isinstance(bias, (list, tuple)) else -float(bias)


def _reversed(bias):
    return list(bias)[::-1] if isinstance(bias, (list, tuple)) else bias


def _code(key: str, value) -> str:
    if key == "color_layout":
        return f"ct.colorlayout.{value}"
    if key == "scale":
        return _scale_code(float(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"{float(v):.4g}" for v in value) + "]"
    return f"{float(value):.4g}"


def _scale_code(scale: float) -> str:
    """A scale below 1 as ``1/255`` (``1/57.63``), else the number."""
    if scale >= 1 or scale <= 0:
        return f"{scale:.6g}"
    if abs(1 / scale - round(1 / scale)) < 1e-6 * (1 / scale):
        return f"1/{round(1 / scale)}"
    return f"1/{1 / scale:.6g}"


def _json(value):
    return list(value) if isinstance(value, tuple) else value


def _db(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.1f}".replace("-", "−")
