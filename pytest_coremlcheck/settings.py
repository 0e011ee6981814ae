"""``CheckSettings``: the run-wide settings (command line, ini, ``assert_equivalent`` keywords)
shared by every check of a session; parsed and validated once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .convert.cache import ConversionCache

#: ``CheckSettings.localize``: localise failing results (default), every result, or none
LOCALIZE_MODES = ("failed", "all", "off")

if TYPE_CHECKING:
    from .check.progress import ProgressCallback
    from .compare.tolerance import Tolerance


@dataclass
class CheckSettings:
    """Run-wide settings (command line / ini), shared by every check of a session."""

    backend: str = "auto"
    compute_units: list[str] = field(default_factory=lambda: ["ALL"])
    fp16_mode: str = "typed"
    #: record the first op whose output goes NaN/Inf or leaves the fp16 range (reference only)
    watch_hazards: bool = True
    default_tolerance: Tolerance | None = None
    cache: ConversionCache = field(default_factory=lambda: ConversionCache(None, "off"))
    #: where PNGs of failing image outputs go (None: not kept)
    artifacts_dir: Path | None = None
    #: keep PNGs of passing image outputs too (an HTML report shows every image output)
    pictures_of_passing: bool = False
    #: linked-model roots: "main" for $BUNDLE_MAIN, bundle identifiers for $BUNDLE_IDENTIFIER(id)
    bundle_dirs: dict[str, str] | None = None
    #: model -> (all findings, failing findings); set by the linter's pytest plugin.
    lint: Callable[[Any], tuple[list, list]] | None = None
    #: called with (stage, done, total) as conversions and samples finish (see check/progress.py)
    progress: ProgressCallback | None = None
    #: which results are localised (ML programs on the reference executor): failed, all, off
    localize: str = "failed"
    #: the localisation step, called as ``localizer(plan, models, results, settings)`` once a
    #: check's results exist (``localize.step.localise_results``; the front doors set it, so
    #: the check never imports the localisation, which re-runs checks)
    localizer: Callable | None = None

    def __post_init__(self) -> None:
        if self.localize not in LOCALIZE_MODES:
            raise ValueError(f"localize: {self.localize!r} is not one of "
                             f"{', '.join(LOCALIZE_MODES)}")


def parse_bundle_dirs(lines: list[str], root: Path) -> dict[str, str] | None:
    """ini ``coreml_bundle_dirs`` lines ``name=path`` as {name: absolute path}, paths relative
    to ``root`` (the rootdir); None when there are none. ValueError names a bad line."""
    out = {}
    for line in lines:
        name, sep, path = line.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"coreml_bundle_dirs: expected 'name=path', got {line!r}")
        out[name.strip()] = str((Path(root) / path.strip()).resolve())
    return out or None
