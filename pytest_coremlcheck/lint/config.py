"""``[tool.coremlcheck]`` in ``pyproject.toml``: settings shared by ``coremlcheck lint`` and the
pytest plugin.

```toml
[tool.coremlcheck]
target = "iOS16"                    # deployment target (OS name or spec version)
select = ["CML"]                    # rule ids or prefixes to report (default: all)
ignore = ["CML-D", "CML-I004"]      # rule ids or prefixes to leave out
fail-on = "error"                   # lowest severity that fails (error, warning, info)
bundle-dirs = ["App/Resources"]     # where linked models' .mlmodelc must be found
scan-weights = true                 # read const values for the FP16 rules

[tool.coremlcheck.per-path-ignores]
"models/legacy/*.mlmodel" = ["CML-V005", "CML-N005"]
```

Paths and globs are relative to the directory holding the ``pyproject.toml``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..lazy import toml_parser
from .errors import LintUsageError
from .findings import check_severity

_KEYS = {"target", "select", "ignore", "per-path-ignores", "fail-on", "bundle-dirs",
         "scan-weights"}
#: Keys of [tool.coremlcheck] read elsewhere: ``check`` tables are declared checks.
_OTHER_KEYS = {"check"}


@dataclass(frozen=True)
class LintConfig:
    """Lint settings. ``root`` anchors relative globs and bundle directories."""

    target: str | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_path_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fail_on: str = "error"
    bundle_dirs: tuple[Path, ...] = ()
    scan_weights: bool = True
    root: Path | None = None
    source: Path | None = None

    def merged(self, **overrides) -> LintConfig:
        """A copy with the given fields replaced; None values leave a field as it is."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def ignored_for(self, path: str | None) -> tuple[str, ...]:
        """Rule codes ignored for the model at ``path`` by ``per-path-ignores``."""
        if not path or not self.per_path_ignores:
            return ()
        candidates = {path.replace("\\", "/")}
        model_path = Path(path)
        if self.root is not None:
            try:
                candidates.add(model_path.resolve().relative_to(self.root.resolve()).as_posix())
            except (ValueError, OSError):
                pass
        candidates.add(model_path.name)
        out: list[str] = []
        for pattern, codes in self.per_path_ignores:
            if any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates):
                out.extend(codes)
        return tuple(out)


def from_mapping(table: Mapping, root: Path | None = None,
                 source: Path | None = None) -> LintConfig:
    """Build a :class:`LintConfig` from a ``[tool.coremlcheck]`` table (keys as in TOML, with
    ``-`` or ``_``)."""
    if not isinstance(table, Mapping):
        raise LintUsageError(f"{source or 'config'}: [tool.coremlcheck] must be a table")
    data = {str(k).replace("_", "-"): v for k, v in table.items()}
    where = f"{source}: [tool.coremlcheck]" if source else "[tool.coremlcheck]"
    unknown = set(data) - _KEYS - _OTHER_KEYS
    if unknown:
        raise LintUsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(_KEYS))}")
    target = data.get("target")
    if target is not None and not isinstance(target, (str, int)):
        raise LintUsageError(f"{where}: target must be a string such as \"iOS16\"")
    per_path = data.get("per-path-ignores", {})
    if not isinstance(per_path, Mapping):
        raise LintUsageError(f"{where}: per-path-ignores must be a table of glob = [ids]")
    fail_on = str(data.get("fail-on", "error"))
    try:
        check_severity(fail_on)
    except ValueError as exc:
        raise LintUsageError(f"{where}: fail-on: {exc}") from None
    base = root or Path.cwd()
    return LintConfig(
        target=str(target) if target is not None else None,
        select=_codes(data.get("select", ()), where, "select"),
        ignore=_codes(data.get("ignore", ()), where, "ignore"),
        per_path_ignores=tuple((str(glob), _codes(ids, where, f"per-path-ignores {glob!r}"))
                               for glob, ids in per_path.items()),
        fail_on=fail_on,
        bundle_dirs=tuple(base / str(d) for d in _strings(data.get("bundle-dirs", ()), where,
                                                           "bundle-dirs")),
        scan_weights=bool(data.get("scan-weights", True)),
        root=root,
        source=source,
    )


def _strings(value, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise LintUsageError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _codes(value, where: str, key: str) -> tuple[str, ...]:
    from .registry import expand_codes

    try:
        return tuple(expand_codes(_strings(value, where, key)))
    except LintUsageError as exc:
        raise LintUsageError(f"{where}: {key}: {exc}") from None


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has ``[tool.coremlcheck]``."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = toml_parser().loads(candidate.read_text(encoding="utf-8"))
            except (OSError, toml_parser().TOMLDecodeError):
                continue
            if "coremlcheck" in data.get("tool", {}):
                return candidate
    return None


def load_config(start: Path | None = None, pyproject: Path | None = None) -> LintConfig:
    """Read ``[tool.coremlcheck]`` from ``pyproject`` or the nearest one above ``start`` (default
    the working directory); defaults when there is none."""
    path = pyproject or find_pyproject(start or Path.cwd())
    if path is None:
        return LintConfig(root=(start or Path.cwd()).resolve())
    try:
        data = toml_parser().loads(path.read_text(encoding="utf-8"))
    except (OSError, toml_parser().TOMLDecodeError) as exc:
        raise LintUsageError(f"{path}: cannot read ({exc})") from None
    table = data.get("tool", {}).get("coremlcheck", {})
    return from_mapping(table, root=path.parent.resolve(), source=path)


def coerce_config(config) -> LintConfig:
    """Accept a :class:`LintConfig`, a ``[tool.coremlcheck]``-style mapping, a path to a
    ``pyproject.toml``, or None (defaults)."""
    if config is None:
        return LintConfig()
    if isinstance(config, LintConfig):
        return config
    if isinstance(config, Mapping):
        return from_mapping(config)
    if isinstance(config, (str, Path)):
        return load_config(pyproject=Path(config))
    raise LintUsageError(f"config must be a LintConfig, a mapping or a pyproject.toml path, not "
                         f"{type(config).__name__}")


__all__ = ["LintConfig", "load_config", "find_pyproject", "from_mapping", "coerce_config"]
