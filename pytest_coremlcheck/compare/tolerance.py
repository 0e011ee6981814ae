"""Tolerances: which metrics a check enforces and how tight.

Only fields that are set are checked. Tolerances layer field by field
(`Tolerance.layered`): a keyword tolerance over the test's marker over the
command-line/ini defaults. When no layer sets anything, the default for the
converted model's compute precision applies (`default_for_precision`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from numbers import Real
from typing import Any

#: Metric fields of a Tolerance, in display order.
METRIC_FIELDS = (
    "atol",
    "rtol",
    "mismatch_ratio",
    "min_snr_db",
    "min_psnr_db",
    "min_cosine",
    "min_top1",
    "min_ssim",
)


@dataclass(frozen=True)
class Tolerance:
    """Limits one output (or every output) must meet.

    - ``atol``/``rtol``: an element mismatches when ``|a - b| > atol + rtol * |b|``
      (``a`` converted, ``b`` source); at most ``mismatch_ratio`` of the elements may mismatch.
    - ``min_snr_db``: signal-to-noise ratio, ``10·log10(Σb² / Σ(a-b)²)``, in dB.
    - ``min_psnr_db``: ``20·log10(peak) - 10·log10(MSE)`` in dB; peak is ``max(b) - min(b)``,
      or 255 for image outputs.
    - ``min_cosine``: cosine similarity of the flattened outputs (worst sample).
    - ``min_top1``: fraction of rows whose arg-max agrees (classifier-shaped outputs only).
    - ``min_ssim``: structural similarity of image outputs (8-bit; worst sample).
    - ``allow_source_nan``: a NaN in the source output is left out of the comparison instead
      of failing the check (set it per output, for outputs that are NaN by design).
    - ``per_output``: output name -> Tolerance for that output, layered over this one.

    Every limit must be a finite real number (``mismatch_ratio`` in [0, 1]): a NaN or infinite
    limit would make every comparison pass or fail silently, so it raises ToleranceError.
    """

    atol: float | None = None
    rtol: float | None = None
    mismatch_ratio: float = 0.0
    min_snr_db: float | None = None
    min_psnr_db: float | None = None
    min_cosine: float | None = None
    min_top1: float | None = None
    min_ssim: float | None = None
    allow_source_nan: bool = False
    per_output: dict[str, Tolerance] | None = field(default=None, compare=False)

    def __post_init__(self):
        for name in METRIC_FIELDS:
            _check_limit(name, getattr(self, name))
        if not isinstance(self.allow_source_nan, bool):
            raise ToleranceError(f"allow_source_nan must be true or false, got "
                                 f"{self.allow_source_nan!r}")
        if self.per_output is not None:
            if not isinstance(self.per_output, dict):
                raise ToleranceError("per_output must map output names to tolerances, got "
                                     f"{type(self.per_output).__name__}")
            for key, value in self.per_output.items():
                if not isinstance(value, Tolerance):
                    raise ToleranceError(f"per_output[{key!r}] must be a Tolerance, got "
                                         f"{type(value).__name__}")

    def has_limits(self) -> bool:
        """True when this tolerance itself (not ``per_output``) checks at least one metric."""
        return bool(self._set_fields())

    def is_empty(self) -> bool:
        """True when no field and no per-output tolerance is set."""
        return not self._explicit_fields() and not self.allow_source_nan and not self.per_output

    def for_output(self, name: str) -> Tolerance:
        """This tolerance with ``per_output[name]`` layered on top."""
        own = (self.per_output or {}).get(name)
        base = replace(self, per_output=None)
        return base if own is None else Tolerance.layered(base, own)

    def to_dict(self) -> dict[str, Any]:
        """The set fields (and per-output tolerances) as a JSON-ready dict."""
        out: dict[str, Any] = dict(self._set_fields())
        if self.allow_source_nan:
            out["allow_source_nan"] = True
        if self.per_output:
            out["per_output"] = {k: v.to_dict() for k, v in self.per_output.items()}
        return out

    def describe(self) -> str:
        """Short human form, e.g. ``min_snr_db≥60, min_cosine≥0.9999``."""
        parts = []
        for key, value in self._set_fields().items():
            sign = "≤" if key in ("atol", "rtol", "mismatch_ratio") else "≥"
            parts.append(f"{key}{sign}{value:g}")
        if self.allow_source_nan:
            parts.append("allow_source_nan")
        return ", ".join(parts) or "(none)"

    def _set_fields(self) -> dict[str, float]:
        """Fields this tolerance checks; ``mismatch_ratio`` only alongside atol/rtol."""
        out = self._explicit_fields()
        if self.atol is not None or self.rtol is not None:
            out["mismatch_ratio"] = self.mismatch_ratio
        return {name: out[name] for name in METRIC_FIELDS if name in out}

    def _explicit_fields(self) -> dict[str, float]:
        """Fields given a value (``mismatch_ratio`` counts when non-zero)."""
        out = {}
        for name in METRIC_FIELDS:
            value = getattr(self, name)
            if value is not None and not (name == "mismatch_ratio" and value == 0.0):
                out[name] = value
        return out

    @staticmethod
    def layered(*layers: Tolerance | None) -> Tolerance:
        """Merge tolerances field by field; later layers win where they set a field."""
        merged: dict[str, Any] = {}
        per_output: dict[str, Tolerance] = {}
        for layer in layers:
            if layer is None:
                continue
            merged.update(layer._explicit_fields())
            if layer.allow_source_nan:
                merged["allow_source_nan"] = True
            for name, tol in (layer.per_output or {}).items():
                per_output[name] = Tolerance.layered(per_output.get(name), tol)
        return Tolerance(**merged, per_output=per_output or None)

    @staticmethod
    def from_mapping(values: dict[str, Any], *, origin: str = "tolerance") -> Tolerance:
        """Build from keyword fields; ToleranceError names ``origin`` and the field for
        unknown names (with the valid list) and for values that are not finite numbers."""
        if isinstance(values, Tolerance):
            return values
        if not isinstance(values, dict):
            raise ToleranceError(f"{origin}: expected a table of tolerance fields, got "
                                 f"{values!r}")
        unknown = sorted(set(values) - set(FIELD_NAMES))
        if unknown:
            raise ToleranceError(
                f"{origin}: unknown tolerance field(s) {', '.join(map(str, unknown))}; "
                f"valid fields are {', '.join(sorted(FIELD_NAMES))}"
            )
        values = dict(values)
        per_output = values.get("per_output")
        if per_output is not None:
            if not isinstance(per_output, dict):
                raise ToleranceError(f"{origin}: per_output must map output names to "
                                     f"tolerance fields, got {per_output!r}")
            values["per_output"] = {
                k: Tolerance.from_mapping(v, origin=f"{origin}: per_output[{k!r}]")
                for k, v in per_output.items()
            }
        try:
            return Tolerance(**values)
        except ToleranceError as exc:
            raise ToleranceError(f"{origin}: {exc}") from None

    @staticmethod
    def parse(text: str, *, origin: str = "--coreml-tolerance") -> Tolerance:
        """Parse ``"min_snr_db=40,min_cosine=0.999"`` (commas or spaces between fields)."""
        values: dict[str, float] = {}
        for item in text.replace(",", " ").split():
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"{origin}: expected field=value, got {item!r}")
            key = key.strip()
            if key == "allow_source_nan":
                values[key] = _parse_bool(raw, f"{origin}: {key}")
                continue
            try:
                values[key] = float(raw)
            except ValueError:
                raise ToleranceError(f"{origin}: {key} needs a number, got {raw!r}") from None
        return Tolerance.from_mapping(values, origin=origin)


class ToleranceError(ValueError):
    """A tolerance that cannot be used: unknown field, or a limit that is not a finite number.
    The message names the field (and where it came from, when known)."""


FIELD_NAMES = (*METRIC_FIELDS, "allow_source_nan", "per_output")


def _check_limit(name: str, value) -> None:
    """A limit is None or a finite real number; ``mismatch_ratio`` lies in [0, 1]."""
    if value is None and name != "mismatch_ratio":
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ToleranceError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ToleranceError(f"{name} must be a finite number, got {value!r}: a NaN or "
                             "infinite limit cannot be checked")
    if name == "mismatch_ratio" and not 0.0 <= value <= 1.0:
        raise ToleranceError(f"mismatch_ratio must lie in [0, 1], got {value!r}")


def _parse_bool(text: str, where: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ToleranceError(f"{where} needs true or false, got {text!r}")


def split_tolerance(tolerance, variants: list[str] | None = None,
                    ) -> tuple[Tolerance | None, dict[str, Tolerance]]:
    """A check's ``tolerance=``: a Tolerance (or a dict of its fields) for every model, or
    ``{variant: Tolerance or fields}``. ToleranceError names a key that is neither a field nor
    one of ``variants`` (the check's variant names)."""
    if tolerance is None or isinstance(tolerance, Tolerance):
        return tolerance, {}
    if not isinstance(tolerance, dict):
        raise ToleranceError(f"tolerance must be a Tolerance, a dict of its fields or "
                             f"{{variant: Tolerance}}, got {type(tolerance).__name__}")
    if set(tolerance) <= set(FIELD_NAMES) or not variants:
        return Tolerance.from_mapping(tolerance), {}
    unknown = sorted(str(k) for k in tolerance if k not in variants)
    if unknown:
        raise ToleranceError(
            f"tolerance: {', '.join(unknown)} is neither a tolerance field nor a variant of "
            f"this check; fields are {', '.join(sorted(FIELD_NAMES))}, variants "
            f"{', '.join(variants)}")
    return None, {k: Tolerance.from_mapping(v, origin=f"tolerance[{k!r}]")
                  for k, v in tolerance.items()}


#: Defaults when no tolerance is configured anywhere, by the converted model's compute precision.
#: FP32: the fixed default, used when the source's float32 noise floor cannot be measured
#: (``noise_floor``): correct FP32 conversions of ``benchmarks/fp32_floor_architectures.py``
#: land at 118 dB and above, its GELU and RMSNorm (eps 1e-4) mis-conversions at 72–78 dB.
#: FP16 programs carry ~3 significant digits per op, so typical networks land at 35–60 dB SNR
#: with cosine above 0.999.
PRECISION_DEFAULTS = {
    "fp32": Tolerance(min_snr_db=85.0, min_cosine=0.99999),
    "fp16": Tolerance(min_snr_db=30.0, min_cosine=0.999),
}


def default_for_precision(precision: str, floor: Any = None) -> Tolerance:
    """The documented default tolerance for a compute precision (``"fp32"`` or ``"fp16"``).

    For FP32, a measured ``floor`` (``noise_floor.NoiseFloor``) gives the adaptive default
    ``min_snr_db = min(floor − 30, 120)`` per output; without one (or for a floor that could
    not be measured) the fixed default applies.
    """
    if precision == "fp16":
        return PRECISION_DEFAULTS["fp16"]
    if floor is not None:
        return floor.tolerance()
    return PRECISION_DEFAULTS["fp32"]


def with_default(tolerance: Tolerance, default: Tolerance) -> Tolerance:
    """``tolerance`` when it sets a metric limit for every output; otherwise ``default``'s
    limits with ``tolerance``'s other fields and per-output limits layered on top, so an
    output is never compared against no limit at all."""
    if tolerance.has_limits():
        return tolerance
    return Tolerance.layered(default, tolerance)
