"""Baselines: the metrics of every check, committed to the repository, so a later run fails
when a metric gets worse than it was even though it is still inside its absolute tolerance.

File format (JSON)::

    {"format": "coremlcheck-baseline", "version": 1,
     "checks": {<check id>: {"backend", "platform", "model_hash", "inputs_hash",
                             "outputs": {<output>: {"snr_db", "cosine", "top1", ...}}}}}

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
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .fileformat import check_header

FORMAT = "coremlcheck-baseline"
VERSION = 1
DEFAULT_LIMITS = "snr_db:-3,cosine:-1e-4,top1:-0.01"
HIGHER_IS_BETTER = ("snr_db", "psnr_db", "cosine", "top1", "ssim")
LOWER_IS_BETTER = ("max_abs", "rmse")
METRICS = HIGHER_IS_BETTER + LOWER_IS_BETTER
DB_CEILING = 120.0

#: Status of a check against a baseline (``Baseline.status``).
COMPARED, MISSING, STALE, OTHER_BACKEND, NOT_RUN = (
    "compared", "no baseline", "stale", "other backend", "not run")


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
    """Whether a check can be compared with its baseline, and why not (``reason``)."""

    kind: str
    reason: str = ""


def parse_limits(text: str) -> dict[str, float]:
    """``"snr_db:-3,cosine:-1e-4,max_abs:+1e-3"`` → {metric: signed limit}; "" → {}.

    Raises ValueError naming the bad item: unknown metric, not a number, or a sign that
    would allow nothing (a positive limit on a higher-is-better metric, or the reverse).
    """
    limits: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or name not in METRICS:
            raise ValueError(f"regression limit {item!r}: expected 'metric:limit' with metric "
                             f"one of {', '.join(METRICS)}")
        try:
            limit = float(value)
        except ValueError:
            raise ValueError(f"regression limit {item!r}: {value!r} is not a number") from None
        if name in HIGHER_IS_BETTER and limit > 0:
            raise ValueError(f"regression limit {item!r}: {name} is higher-is-better, its "
                             "limit is the change allowed and must be <= 0 (e.g. snr_db:-3)")
        if name in LOWER_IS_BETTER and limit < 0:
            raise ValueError(f"regression limit {item!r}: {name} is lower-is-better, its "
                             "limit is the growth allowed and must be >= 0 (e.g. max_abs:+1e-3)")
        limits[name] = limit
    return limits


def check_id(entry: dict) -> str:
    """Stable, readable id of a check: its test node id, then the check's name when it is not
    the test's own (only the suffix when the name extends it, as variants and shapes do), then
    variant and shape when the name does not already carry them.

    ``tests/test_x.py::test_cls``, ``tests/test_x.py::test_cls [fp16]``,
    ``tests/test_x.py::test_cls::backbone``.
    """
    test = entry.get("test") or ""
    name = entry.get("name") or ""
    function = test.rsplit("::", 1)[-1]
    if not name or name == function:
        ident = test
    elif name.startswith(function + " "):
        ident = f"{test} {name[len(function):].strip()}"
    else:
        ident = "::".join(p for p in (test, name) if p)
    extra = [str(v) for v in (entry.get("variant"), entry.get("shape")) if v and str(v) not in name]
    return f"{ident} [{', '.join(extra)}]" if extra else ident


def entry_from_check(check: dict) -> dict:
    """The baseline entry of a check dict (``EquivalenceResult.to_dict()`` + ``test``)."""
    return {
        "backend": check.get("backend"),
        "platform": check.get("platform"),
        "model_hash": check.get("model_hash", ""),
        "inputs_hash": check.get("inputs_hash", ""),
        "outputs": {name: {m: out[m] for m in METRICS if out.get(m) is not None}
                    for name, out in (check.get("outputs") or {}).items()},
    }


@dataclass
class Baseline:
    """The checks of a baseline file, by check id."""

    checks: dict[str, dict] = field(default_factory=dict)
    path: Path | None = None

    def status(self, check: dict) -> Status:
        """``compared`` when ``check`` can be compared with its entry; else why not."""
        if check.get("error") or not check.get("outputs"):
            return Status(NOT_RUN, "the check did not run")
        base = self.checks.get(check_id(check))
        if base is None:
            return Status(MISSING, "no baseline")
        if base.get("backend") != check.get("backend"):
            return Status(OTHER_BACKEND, f"baseline from backend {base.get('backend')} "
                          f"({base.get('platform')}), this run {check.get('backend')}: "
                          "not compared")
        for what in ("model", "inputs"):
            key = f"{what}_hash"
            if base.get(key) and check.get(key) and base[key] != check[key]:
                return Status(STALE, f"baseline stale: {what} changed "
                              f"({key} {base[key][:12]} -> {check[key][:12]}); "
                              "not compared, update it with --coreml-baseline-update")
        return Status(COMPARED)

    def compare(self, check: dict, limits: dict[str, float]) -> list[Regression]:
        """Regressions of ``check`` (a check dict) against its entry beyond ``limits``;
        [] when nothing is comparable (see ``status``)."""
        if self.status(check).kind != COMPARED:
            return []
        ident = check_id(check)
        base_outputs = self.checks[ident].get("outputs", {})
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
        """A copy with the entries of ``checks`` (that ran) replaced; other entries kept."""
        merged = dict(self.checks)
        for check in checks:
            if not check.get("error") and check.get("outputs"):
                merged[check_id(check)] = entry_from_check(check)
        return Baseline(dict(sorted(merged.items())), self.path)

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
    missing, not JSON, another format or a newer version."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BaselineError(f"baseline {path}: no such file; create it with "
                            "--coreml-baseline-update") from None
    except OSError as exc:
        raise BaselineError(f"baseline {path}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"baseline {path}: not valid JSON ({exc}); expected a "
                            f"{FORMAT} file written by --coreml-baseline-update") from None
    check_header(data, what=f"baseline {path}", fmt=FORMAT, version=VERSION,
                 error=BaselineError)
    checks = data.get("checks")
    if not isinstance(checks, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("outputs", {}), dict)
            for v in checks.values()):
        raise BaselineError(f"baseline {path}: 'checks' must map check ids to entries with "
                            "'outputs'")
    return Baseline(checks, path)


def write_baseline(path: str | Path, baseline: Baseline) -> Path:
    """Write atomically: a temporary file in the same directory, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(baseline.to_json(), handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
