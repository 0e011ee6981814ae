"""Runtimes (the Core ML side of a check): real Core ML on macOS, the reference executor anywhere.

A runtime has ``backend`` ("coreml" or "reference"), ``platform`` (what actually runs) and
``predict(feed) -> dict``.
"""

from __future__ import annotations

import platform as _platform

from ..errors import RuntimeUnavailable
from .base import Runtime

BACKENDS = ("auto", "coreml", "reference")
COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")


def coreml_available() -> bool:
    """True on macOS with coremltools' native prediction library."""
    if _platform.system() != "Darwin":
        return False
    try:
        from coremltools.libcoremlpython import _MLModelProxy  # noqa: F401
    except Exception:
        return False
    return True


def resolve_backend(requested: str) -> str:
    """``auto`` → ``coreml`` where Core ML predicts, else ``reference``."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; expected one of {', '.join(BACKENDS)}")
    if requested == "auto":
        return "coreml" if coreml_available() else "reference"
    if requested == "coreml" and not coreml_available():
        raise RuntimeUnavailable(
            "--coreml-backend=coreml needs macOS with Core ML; this is "
            f"{_platform.system()}. Use --coreml-backend=reference or auto."
        )
    return requested


def parse_compute_units(text: str) -> list[str]:
    """``"CPU_ONLY,ALL"`` → ["CPU_ONLY", "ALL"], validated."""
    units = [u.strip().upper() for u in text.split(",") if u.strip()]
    bad = [u for u in units if u not in COMPUTE_UNITS]
    if bad or not units:
        raise ValueError(f"unknown compute unit(s) {', '.join(bad) or '(none)'}; expected a "
                         f"comma list of {', '.join(COMPUTE_UNITS)}")
    return units


def open_runtimes(model, loaded_model, backend: str, compute_units: list[str],
                  fp16_mode: str, watch_hazards: bool = True,
                  bundle_dirs: dict[str, str] | None = None) -> list[Runtime]:
    """The runtimes to run ``model`` on: one per compute unit on Core ML, one reference."""
    if backend == "coreml":
        from .coreml import CoreMLRuntime

        return [CoreMLRuntime(model, unit) for unit in compute_units]
    from .reference import ReferenceRuntime

    return [ReferenceRuntime(loaded_model, fp16_mode, watch_hazards, bundle_dirs)]
