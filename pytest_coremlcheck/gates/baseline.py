"""Baselines: the metrics of every check, committed to the repository, so a later run fails
when a metric gets worse than it was even though it is still inside its absolute tolerance.

File format (JSON)::

    {"format": "coremlcheck-baseline", "version": 2,
     "checks": {<check label>: {"test", "backend", "platform", "model_hash", "inputs_hash",
                                "outputs": {<output>: {"snr_db", "cosine", "top1", ...}}}}}

Checks are keyed by their label (``report.labels.check_label``), the name the summary and the
reports print. Version 1 files keyed them ``test::name``; such entries are still found (and
rewritten under the label by the next update). Metrics are stored rounded to ``DIGITS``
significant digits.

A regression limit is a signed change allowed per metric, ``new - baseline``:

- higher is better (``snr_db``, ``psnr_db``, ``cosine``, ``top1``, ``ssim``): limit ≤ 0,
  regression when ``new - baseline < limit`` (``snr_db:-3`` allows losing 3 dB);
- lower is better (``max_abs``, ``rmse``): limit ≥ 0, regression when
  ``new - baseline > limit`` (``max_abs:+1e-3``).

Decibel metrics are compared capped at ``DB_CEILING`` (120 dB): above that the difference is
float32 round-off, not a regression (an exact match is +inf dB).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..report.labels import check_label
from ..store.files import read_json, write_atomic
from .fileformat import check_header
from .limits import (  # noqa: F401 - the limits stay importable from here
    DEFAULT_LIMITS,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    METRICS,
    parse_limits,
)

FORMAT = "coremlcheck-baseline"
VERSION = 2
#: significant digits of the metrics a baseline file stores
DIGITS = 6
DB_CEILING = 120.0

#: Status of a check against a baseline (``Baseline.status``).
COMPARED, MISSING, OTHER_BACKEND, NOT_RUN = ("compared", "no baseline", "other backend",
                                             "not run")
#: metric values JSON cannot hold as numbers (``metrics.json_number``)
NON_FINITE = ("inf", "-inf", "nan")


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names the file and what was expected."""


@dataclass(frozen=True)
class Regression:
    """One metric of one output that got worse than its baseline by more than the limit."""

    check: str
    output: str
    metric: str
    baseline: float
    new: float
    limit: float

    @property
    def message(self) -> str:
        return (f"baseline regression: {self.check} output {self.output!r}: {self.metric} "
                f"{self.baseline:.6g} -> {self.new:.6g} (change "
                f"{change(self.metric, self.baseline, self.new):+.3g}, limit {self.limit:+g})")


@dataclass(frozen=True)
class Status:
    """Whether a check can be compared with its baseline, why not (``reason``), and what
    changed since the baseline was recorded (``changed``: the model, the inputs)."""

    kind: str
    reason: str = ""
    changed: tuple[str, ...] = ()


#: A check's key in baseline and golden files: the label reports print.
check_id = check_label


def legacy_check_id(check: dict) -> str:
    """The key version 1 files used: ``test::name`` for a named check, ``test [fp16]`` for a
    variant; kept to find entries of older files."""
    test = check.get("test") or ""
    name = check.get("name") or ""
    function = test.rsplit("::", 1)[-1]
    if not name or name == function:
        ident = test
    elif name.startswith(function + " "):
        ident = f"{test} {name[len(function):].strip()}"
    else:
        ident = "::".join(p for p in (test, name) if p)
    extra = [str(v) for v in (check.get("variant"), check.get("shape")) if v and str(v) not in name]
    return f"{ident} [{', '.join(extra)}]" if extra else ident


def rounded(value):
    """A metric as stored: ``DIGITS`` significant digits; non-finite values as strings."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return float(f"{value:.{DIGITS}g}")
    return value


def entry_from_check(check: dict) -> dict:
    """The baseline entry of a check dict (``EquivalenceResult.to_dict()`` + ``test``)."""
    return {
        "test": check.get("test"),
        "backend": check.get("backend"),
        "platform": check.get("platform"),
        "model_hash": check.get("model_hash", ""),
        "inputs_hash": check.get("inputs_hash", ""),
        "outputs": {name: {m: rounded(out[m]) for m in METRICS if out.get(m) is not None}
                    for name, out in (check.get("outputs") or {}).items()},
    }


def _ran(check: dict) -> bool:
    return not check.get("error") and bool(check.get("outputs"))


@dataclass
class Baseline:
    """The checks of a baseline file, by check label."""

    checks: dict[str, dict] = field(default_factory=dict)
    path: Path | None = None

    def key(self, check: dict) -> str | None:
        """The key of ``check``'s entry: its label, or the version 1 key; None when absent."""
        for key in (check_id(check), legacy_check_id(check)):
            if key in self.checks:
                return key
        return None

    def status(self, check: dict) -> Status:
        """``compared`` when ``check`` has an entry on the same backend; else why not. A
        changed model or inputs hash is compared too and listed in ``changed``: a
        re-conversion is exactly what the ratchet judges."""
        if not _ran(check):
            return Status(NOT_RUN, "the check did not run")
        key = self.key(check)
        if key is None:
            return Status(MISSING, "no baseline")
        base = self.checks[key]
        if base.get("backend") != check.get("backend"):
            return Status(OTHER_BACKEND, f"other backend: baseline from {base.get('backend')} "
                          f"({base.get('platform')}), this run {check.get('backend')}; "
                          "not compared")
        changed = []
        for what in ("model", "inputs"):
            name = f"{what}_hash"
            if base.get(name) and check.get(name) and base[name] != check[name]:
                changed.append(f"{what} changed since the baseline "
                               f"({name} {base[name][:12]} -> {check[name][:12]})")
        return Status(COMPARED, changed=tuple(changed))

    def compare(self, check: dict, limits: dict[str, float]) -> list[Regression]:
        """Regressions of ``check`` (a check dict) against its entry beyond ``limits``;
        [] when nothing is comparable (see ``status``)."""
        if self.status(check).kind != COMPARED:
            return []
        ident = check_id(check)
        base_outputs = self.checks[self.key(check)].get("outputs", {})
        found = []
        for output, out in check["outputs"].items():
            base = base_outputs.get(output, {})
            for metric, limit in limits.items():
                old, new = _number(base.get(metric)), _number(out.get(metric))
                if old is None or new is None or math.isnan(old):
                    continue
                if _regressed(metric, old, new, limit):
                    found.append(Regression(ident, output, metric, old, new, limit))
        return found

    def updated(self, checks: list[dict]) -> Baseline:
        """A copy with the entries of ``checks`` (that ran) replaced, under their labels
        (a version 1 key of the same check is dropped); other entries kept."""
        merged = dict(self.checks)
        for check in filter(_ran, checks):
            merged.pop(legacy_check_id(check), None)
            merged[check_id(check)] = entry_from_check(check)
        return Baseline(dict(sorted(merged.items())), self.path)

    def without(self, keys) -> Baseline:
        """A copy without the entries ``keys``."""
        drop = set(keys)
        return Baseline({k: v for k, v in self.checks.items() if k not in drop}, self.path)

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "checks": self.checks}


def _number(value) -> float | None:
    """Metric values as floats; JSON-ready "inf"/"nan" strings included; None if absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def change(metric: str, old: float, new: float) -> float:
    """``new - old``, decibels capped at DB_CEILING first; 0 for equal infinities."""
    if metric.endswith("_db"):
        old, new = min(old, DB_CEILING), min(new, DB_CEILING)
    if math.isinf(old) and old == new:
        return 0.0
    return new - old


def _regressed(metric: str, old: float, new: float, limit: float) -> bool:
    if math.isnan(new):
        return True
    delta = change(metric, old, new)
    return delta < limit if metric in HIGHER_IS_BETTER else delta > limit


def load_baseline(path: str | Path) -> Baseline:
    """Read a baseline file; BaselineError names the file and what was expected when it is
    missing, not JSON, another format or a newer version, or an entry is malformed (naming
    the entry and key)."""
    path = Path(path)
    what = f"baseline {path}"
    try:
        data = read_json(path, what=what, error=BaselineError,
                         expected=f"a {FORMAT} file written by --coreml-baseline-update")
    except FileNotFoundError:
        raise BaselineError(f"{what}: no such file; create it with "
                            "--coreml-baseline-update") from None
    check_header(data, what=what, fmt=FORMAT, version=VERSION, error=BaselineError)
    checks = data.get("checks")
    if not isinstance(checks, dict):
        raise BaselineError(f"{what}: 'checks' must map check labels to entries with "
                            "'outputs'")
    for key, entry in checks.items():
        _validate_entry(what, key, entry)
    return Baseline(checks, path)


def _validate_entry(what: str, key: str, entry) -> None:
    """BaselineError naming the file, the entry and the key of anything malformed."""
    where = f"{what}: checks[{key!r}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), dict):
        raise BaselineError(f"{where}: expected an object with 'outputs' (output -> metrics)")
    for name in ("backend", "platform", "model_hash", "inputs_hash", "test"):
        if entry.get(name) is not None and not isinstance(entry[name], str):
            raise BaselineError(f"{where}.{name}: {entry[name]!r}, expected a string")
    for output, metrics in entry["outputs"].items():
        if not isinstance(metrics, dict):
            raise BaselineError(f"{where}.outputs[{output!r}]: expected an object of metrics")
        for metric, value in metrics.items():
            if metric not in METRICS:
                raise BaselineError(f"{where}.outputs[{output!r}]: unknown metric {metric!r}; "
                                    f"expected one of {', '.join(METRICS)}")
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number and value not in NON_FINITE:
                raise BaselineError(f"{where}.outputs[{output!r}].{metric}: {value!r}, expected "
                                    "a number (or \"inf\", \"-inf\", \"nan\")")


def write_baseline(path: str | Path, baseline: Baseline) -> Path:
    """Write atomically (``store.files.write_atomic``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, json.dumps(baseline.to_json(), indent=2) + "\n")


@dataclass
class Update:
    """What ``update_baseline_file`` changed: labels of new and updated entries (with what
    changed in each), entries this run did not produce (kept), and pruned ones (removed)."""

    written: Baseline
    new: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0
    not_produced: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The terminal's account of the write."""
        path = self.written.path
        head = (f"coreml baseline written to {path} ({len(self.written.checks)} check(s)): "
                f"{len(self.new)} new, {len(self.updated)} updated, {self.unchanged} unchanged, "
                f"{len(self.not_produced)} not produced by this run (kept), "
                f"{len(self.pruned)} pruned")
        lines = [head] + [f"  new: {k}" for k in self.new]
        lines += [f"  updated: {k}: {'; '.join(v)}" for k, v in self.updated.items()]
        lines += [f"  not produced by this run, kept: {k}" for k in self.not_produced]
        return lines + [f"  pruned (test not collected): {k}" for k in self.pruned]


def update_baseline_file(path: str | Path, checks: list[dict],
                         prune: Callable[[str, dict], bool] | None = None) -> Update:
    """Read-merge-write ``path`` under a file lock (``.<name>.lock`` beside it), so concurrent
    partial updates keep each other's entries: the file as it is now, with the entries of
    ``checks`` replaced and, when ``prune`` is given, the entries it selects (label, entry)
    removed among those no check produced. OSError when the file or lock cannot be written."""
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(f".{path.name}.lock"))):
        old = load_baseline(path) if path.exists() else Baseline({}, path)
        new = old.updated(checks)
        produced = {check_id(c) for c in checks if _ran(c)}
        stale = [k for k in new.checks if k not in produced]
        pruned = [k for k in stale if prune is not None and prune(k, new.checks[k])]
        new = new.without(pruned)
        write_baseline(path, new)
    update = Update(new, pruned=pruned,
                    not_produced=[k for k in stale if k not in pruned])
    for key, check in sorted({check_id(c): c for c in filter(_ran, checks)}.items()):
        before = old.checks.get(old.key(check) or "")
        if before is None:
            update.new.append(key)
        elif diff := _differences(before, new.checks[key]):
            update.updated[key] = diff
        else:
            update.unchanged += 1
    return update


def _differences(before: dict, after: dict) -> list[str]:
    """What changed between two entries: hashes, backend, and each metric (old -> new)."""
    found = [f"{what} changed" for what, name in (("model", "model_hash"),
                                                   ("inputs", "inputs_hash"),
                                                   ("backend", "backend"))
             if before.get(name) != after.get(name)]
    old_outputs, new_outputs = before.get("outputs", {}), after.get("outputs", {})
    for output in sorted(set(old_outputs) | set(new_outputs)):
        old, new = old_outputs.get(output, {}), new_outputs.get(output, {})
        found += [f"{output}.{m} {old.get(m, '-')} -> {new.get(m, '-')}"
                  for m in METRICS if _number(old.get(m)) != _number(new.get(m))
                  and not (_nan(old.get(m)) and _nan(new.get(m)))]
    return found


def _nan(value) -> bool:
    number = _number(value)
    return number is not None and math.isnan(number)
