"""Apply the gates (baseline, golden outputs) to the results of one check, in the test.

A gate that cannot do what was asked (a stale golden, golden outputs to save without Core ML)
yields a reason: the plugin skips the test with it, or fails it under ``--coreml-strict``. A
baseline entry recorded for another model or other inputs (a re-conversion) is compared all the
same, and the change is noted. A check without a baseline entry, or with one from another
backend, is not compared: a note, and a failure under strict (unless the baseline is being
updated). A golden that is missing is a note only: goldens come
from a separate (nightly) macOS run, so a new check has none until it ran there.
"""

from __future__ import annotations

from pathlib import Path

from ..check.result import EquivalenceResult
from .baseline import COMPARED, MISSING, OTHER_BACKEND, check_id, legacy_check_id
from .golden import compare_golden, load_golden, save_from_result
from .settings import GateSettings


def apply_gates(results: list[EquivalenceResult], test: str,
                settings: GateSettings) -> list[str]:
    """Compare each result with its golden and its baseline, save goldens; failures go to the
    result's ``extra_failures``, what happened to its ``gates`` and ``notes``. Returns the
    reasons the check could not do what was asked (under strict, also added as failures)."""
    unable: list[str] = []
    for result in results:
        entry = dict(result.to_dict(), test=test)
        ident = check_id(entry)
        reasons = []
        if settings.golden_dir is not None:
            reasons += _golden(result, (ident, legacy_check_id(entry)), settings)
        if settings.golden_save_dir is not None:
            reasons += _save_golden(result, ident, settings.golden_save_dir)
        if settings.baseline is not None and not settings.update_baseline:
            _baseline(result, entry, settings)
        if settings.strict:
            result.extra_failures += [f"strict: {r}" for r in reasons]
        result.attach_full_hazards()
        unable += [f"{result.name}: {r}" for r in reasons]
    return unable


def _baseline(result: EquivalenceResult, entry: dict, settings: GateSettings) -> None:
    status = settings.baseline.status(entry)
    if status.kind == COMPARED:
        regressions = settings.baseline.compare(entry, settings.limits)
        result.extra_failures += [r.message for r in regressions]
        result.gates["baseline"] = "; ".join(
            ["regressed" if regressions else "compared", *status.changed])
        result.notes += [f"baseline: {c}" for c in status.changed]
        return
    result.gates["baseline"] = status.reason
    result.notes.append(status.reason)
    if settings.strict and status.kind in (MISSING, OTHER_BACKEND):
        result.extra_failures.append(f"strict: {status.reason} for {check_id(entry)} in "
                                     f"{settings.baseline.path}; record it with "
                                     "--coreml-baseline-update")


def _golden(result: EquivalenceResult, idents: tuple[str, str],
            settings: GateSettings) -> list[str]:
    golden = load_golden(settings.golden_dir, *idents)
    if golden is None:
        result.gates["golden"] = "no golden"
        result.notes.append(f"no golden outputs for this check in {settings.golden_dir}")
        return []
    stale = golden.stale_reason(result.model_hash, result.inputs_hash)
    if stale:
        result.gates["golden"] = stale
        result.notes.append(stale)
        return [stale]
    images = {n for n, r in result.output_results.items() if r.metrics and r.metrics.image}
    found, failures = compare_golden(golden, result.converted_outputs,
                                     settings.golden_tolerance or result.tolerance, images)
    result.golden_outputs = found
    result.extra_failures += failures
    result.gates["golden"] = "failed" if failures else "compared"
    result.notes.append(f"compared with golden outputs from {golden.meta.get('platform')} on "
                        f"{golden.meta.get('os')} ({golden.path.name})")
    return []


def _save_golden(result: EquivalenceResult, ident: str, directory: Path) -> list[str]:
    if result.backend != "coreml":
        reason = (f"--coreml-golden-save needs real Core ML (macOS, --coreml-backend=coreml or "
                  f"auto); this run used {result.platform}: golden outputs not saved")
        result.gates["golden_save"] = "not saved"
        return [reason]
    path = save_from_result(directory, ident, result)
    result.gates["golden_save"] = "saved"
    result.notes.append(f"golden outputs saved to {path}")
    return []
