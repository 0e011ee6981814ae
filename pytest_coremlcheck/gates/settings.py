"""``GateSettings``: the run-wide gate options (baseline, golden outputs, strict mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..compare.tolerance import Tolerance
    from .baseline import Baseline


@dataclass
class GateSettings:
    """Run-wide gate options (command line / ini)."""

    baseline: Baseline | None = None
    update_baseline: bool = False
    limits: dict[str, float] = field(default_factory=dict)
    golden_dir: Path | None = None
    golden_save_dir: Path | None = None
    #: converted-vs-golden tolerance; None: each check's own tolerance
    golden_tolerance: Tolerance | None = None
    strict: bool = False
