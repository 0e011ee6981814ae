"""Declared checks: the ``[[check]]`` tables of ``coremlcheck.toml`` (or
``[[tool.coremlcheck.check]]`` in ``pyproject.toml``), read and validated.

```toml
[[check]]
name = "classifier"                       # the test item's name (default: check<index>)
source = "models:build_classifier"        # a model file, or module:callable (as the CLI)
model = "build/Classifier.mlpackage"      # optional: absent converts the source on the fly
inputs = "images/"                        # images, an .npz, random:N or module:callable
tolerance = { min_snr_db = 40, per_output = { logits = { min_cosine = 0.999 } } }
variants = ["fp16", "int8"]               # optional
convert = { minimum_deployment_target = "iOS16", inputs = [{ name = "x", shape = [1, 8] }] }
```

Paths and modules resolve from the directory of the TOML file. Errors name the file, the
table's position (``check[2]``) and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..compare.tolerance import Tolerance
from ..convert.variants import resolve
from ..errors import CheckError
from ..inputs.base import InputSource
from ..inputs.spec import inputs_from_spec, names_code
from ..lazy import toml_parser
from ..sources.loader import check_source_spec
from ..sources.pyref import Lazy
from .convert_args import convert_kwargs

KEYS = ("name", "source", "model", "inputs", "tolerance", "variants", "convert")
TOLERANCE_FIELDS = {f.name for f in fields(Tolerance)}


class DeclaredCheckError(ValueError):
    """A file of declared checks that cannot be used; the message names the file, table and key."""


@dataclass(frozen=True)
class DeclaredCheck:
    """One declared check, ready for ``coreml_check``."""

    name: str
    source: str
    base_dir: Path
    model: Path | None = None
    inputs: InputSource | Lazy | None = None
    tolerance: Tolerance | dict[str, Tolerance] | None = None
    variants: tuple[str, ...] | None = None
    convert: dict[str, Any] | None = None


def read_check_file(path: Path) -> list[DeclaredCheck]:
    """The checks of a ``coremlcheck.toml`` (``[[check]]``) or a ``pyproject.toml``
    (``[[tool.coremlcheck.check]]``); [] for a pyproject.toml without any."""
    try:
        data = toml_parser().loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DeclaredCheckError(f"{path}: cannot read it ({exc})") from None
    except toml_parser().TOMLDecodeError as exc:
        raise DeclaredCheckError(f"{path}: not valid TOML ({exc})") from None
    if path.name == "pyproject.toml":
        table, prefix = data.get("tool", {}).get("coremlcheck", {}), "tool.coremlcheck.check"
    else:
        unknown = sorted(set(data) - {"check"})
        if unknown:
            raise DeclaredCheckError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; "
                                "expected [[check]] tables")
        table, prefix = data, "check"
    checks = table.get("check", []) if isinstance(table, dict) else []
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise DeclaredCheckError(f"{path}: {prefix} must be an array of tables ([[{prefix}]])")
    specs: list[DeclaredCheck] = []
    for index, entry in enumerate(checks):
        spec = _declared_check(entry, path, f"{path}: {prefix}[{index}]", index)
        if any(s.name == spec.name for s in specs):
            raise DeclaredCheckError(f"{path}: {prefix}[{index}]: name {spec.name!r} is "
                                     "already used by another check")
        specs.append(spec)
    return specs


def _declared_check(entry: dict, path: Path, where: str, index: int) -> DeclaredCheck:
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise DeclaredCheckError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys are "
                            f"{', '.join(KEYS)}")
    base = path.parent
    name = _string(entry.get("name", f"check{index}"), where, "name")
    if "source" not in entry:
        raise DeclaredCheckError(f"{where}: missing key 'source' (a model file, a SavedModel "
                            "directory or module:callable)")
    source = _string(entry["source"], where, "source")
    try:
        check_source_spec(source, base)
    except CheckError as exc:
        raise DeclaredCheckError(f"{where}: source: {exc}") from None
    model = None
    if "model" in entry:
        model = base / _string(entry["model"], where, "model")
        if not model.exists():
            raise DeclaredCheckError(f"{where}: model: {model} does not exist (omit 'model' to "
                                "convert the source on the fly)")
    variants = _variants(entry.get("variants"), where)
    return DeclaredCheck(
        name=name, source=source, base_dir=base, model=model,
        inputs=_inputs(entry.get("inputs"), base, where),
        tolerance=_tolerance(entry.get("tolerance"), where, variants or ()),
        variants=variants,
        convert=_convert(entry.get("convert"), where),
    )


def _string(value, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DeclaredCheckError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _inputs(value, base: Path, where: str) -> InputSource | Lazy | None:
    """Files are checked now; ``module:callable`` is called when the check runs."""
    if value is None:
        return None
    text = _string(value, where, "inputs")
    if names_code(text, base):
        return Lazy(lambda: inputs_from_spec(text, base))
    try:
        return inputs_from_spec(text, base, confine=True)
    except (OSError, ValueError) as exc:
        raise DeclaredCheckError(f"{where}: inputs: {exc}") from None


def _tolerance(value, where: str, variants: tuple[str, ...]
               ) -> Tolerance | dict[str, Tolerance] | None:
    """A table of Tolerance fields, or of variant name (one of ``variants``) -> such a table;
    a value that is not a finite number, or a key that is neither, names the key."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DeclaredCheckError(f"{where}: tolerance must be a table of tolerance fields")
    by_variant = not set(value) <= TOLERANCE_FIELDS and all(
        isinstance(v, dict) for v in value.values())
    unknown = sorted(k for k in value if k not in variants) if by_variant else []
    if unknown and variants:
        raise DeclaredCheckError(f"{where}: tolerance.{unknown[0]}: not a tolerance field nor one "
                            f"of this check's variants ({', '.join(variants)})")
    try:
        if not by_variant or not variants:
            return Tolerance.from_mapping(value, origin=f"{where}: tolerance")
        return {k: Tolerance.from_mapping(v, origin=f"{where}: tolerance.{k}")
                for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        raise DeclaredCheckError(str(exc)) from None


def _variants(value, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DeclaredCheckError(f"{where}: variants must be a list of variant names")
    try:
        resolve(value)
    except CheckError as exc:
        raise DeclaredCheckError(f"{where}: variants: {exc}") from None
    return tuple(value)


def _convert(value, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DeclaredCheckError(f"{where}: convert must be a table of ct.convert arguments")
    try:
        return convert_kwargs(value)
    except ValueError as exc:
        raise DeclaredCheckError(f"{where}: convert: {exc}") from None


#: Old names ("gate" now means baselines and golden outputs only), kept for one release.
GateSpec = DeclaredCheck
GateSpecError = DeclaredCheckError
read_gate_file = read_check_file
