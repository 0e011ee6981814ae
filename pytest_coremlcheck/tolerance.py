"""Tolerances: which metrics a check enforces and how tight.

Only fields that are set are checked. Tolerances layer field by field
(`Tolerance.layered`): a keyword tolerance over the test's marker over the
command-line/ini defaults. When no layer sets anything, the default for the
converted model's compute precision applies (`default_for_precision`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
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
    - ``per_output``: output name -> Tolerance for that output, layered over this one.
    """

    atol: float | None = None
    rtol: float | None = None
    mismatch_ratio: float = 0.0
    min_snr_db: float | None = None
    min_psnr_db: float | None = None
    min_cosine: float | None = None
    min_top1: float | None = None
    min_ssim: float | None = None
    per_output: dict[str, Tolerance] | None = field(default=None, compare=False)

    def is_empty(self) -> bool:
        """True when no metric limit and no per-output tolerance is set."""
        return not self._explicit_fields() and not self.per_output

    def for_output(self, name: str) -> Tolerance:
        """This tolerance with ``per_output[name]`` layered on top."""
        own = (self.per_output or {}).get(name)
        base = replace(self, per_output=None)
        return base if own is None else Tolerance.layered(base, own)

    def to_dict(self) -> dict[str, Any]:
        """The set fields (and per-output tolerances) as a JSON-ready dict."""
        out: dict[str, Any] = dict(self._set_fields())
        if self.per_output:
            out["per_output"] = {k: v.to_dict() for k, v in self.per_output.items()}
        return out

    def describe(self) -> str:
        """Short human form, e.g. ``min_snr_db≥60, min_cosine≥0.9999``."""
        parts = []
        for key, value in self._set_fields().items():
            sign = "≤" if key in ("atol", "rtol", "mismatch_ratio") else "≥"
            parts.append(f"{key}{sign}{value:g}")
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
            for name, tol in (layer.per_output or {}).items():
                per_output[name] = Tolerance.layered(per_output.get(name), tol)
        return Tolerance(**merged, per_output=per_output or None)

    @staticmethod
    def from_mapping(values: dict[str, Any], *, origin: str = "tolerance") -> Tolerance:
        """Build from keyword fields, rejecting unknown names with the valid list."""
        known = {f.name for f in fields(Tolerance)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{origin}: unknown tolerance field(s) {', '.join(unknown)}; "
                f"valid fields are {', '.join(sorted(known))}"
            )
        per_output = values.get("per_output")
        if per_output is not None:
            values = dict(values)
            values["per_output"] = {
                k: v if isinstance(v, Tolerance) else Tolerance.from_mapping(v, origin=origin)
                for k, v in per_output.items()
            }
        return Tolerance(**values)

    @staticmethod
    def parse(text: str, *, origin: str = "--coreml-tolerance") -> Tolerance:
        """Parse ``"min_snr_db=40,min_cosine=0.999"`` (commas or spaces between fields)."""
        values: dict[str, float] = {}
        for item in text.replace(",", " ").split():
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"{origin}: expected field=value, got {item!r}")
            try:
                values[key.strip()] = float(raw)
            except ValueError:
                raise ValueError(f"{origin}: {key} needs a number, got {raw!r}") from None
        return Tolerance.from_mapping(values, origin=origin)


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
