"""The gates' pytest options and ini keys, their settings, and the session's summary lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..compare.tolerance import Tolerance
from .limits import DEFAULT_LIMITS, parse_limits
from .settings import GateSettings

gates_key = pytest.StashKey[GateSettings]()
#: the ``update.BaselineUpdater`` of ``--coreml-baseline-update`` (imported only then)
updater_key = pytest.StashKey[object]()


def add_options(group, parser: pytest.Parser) -> None:
    group.addoption("--coreml-baseline", default=None, metavar="PATH",
                    help="baseline JSON file (committed): a check fails when a metric "
                         "regresses beyond --coreml-regression against it. Default: ini "
                         "coreml_baseline.")
    group.addoption("--coreml-baseline-update", action="store_true", default=False,
                    help="write this run's metrics into the baseline (entries of checks not "
                         "run are kept) and print what changed; nothing is compared.")
    group.addoption("--coreml-baseline-prune", action="store_true", default=False,
                    help="with --coreml-baseline-update: also remove entries whose test was "
                         "not collected, among the files and directories this run collected "
                         "(-k/-m deselected tests count as collected).")
    group.addoption("--coreml-regression", default=None, metavar="LIMITS",
                    help="allowed change per metric against the baseline, new - baseline: "
                         "<= 0 for higher-is-better metrics (snr_db, psnr_db, cosine, top1, "
                         "ssim), >= 0 for lower-is-better ones (max_abs, rmse). Default: "
                         f"{DEFAULT_LIMITS}.")
    group.addoption("--coreml-golden", default=None, metavar="DIR",
                    help="compare the converted model's outputs with the golden outputs "
                         "stored in DIR (by --coreml-golden-save on macOS).")
    group.addoption("--coreml-golden-save", default=None, metavar="DIR",
                    help="store each check's real Core ML outputs in DIR (macOS, coreml "
                         "backend; elsewhere the test is skipped, or fails under strict).")
    group.addoption("--coreml-golden-tolerance", default=None, metavar="TOLERANCE",
                    help="tolerance of converted vs golden outputs, e.g. 'min_snr_db=40'. "
                         "Default: each check's own tolerance.")
    group.addoption("--coreml-strict", action="store_true", default=None,
                    help="fail (instead of skip) a check that could not do what was asked: "
                         "Core ML unavailable, a stale baseline or golden, golden outputs "
                         "not saved; and fail a check without a baseline entry.")
    parser.addini("coreml_baseline", "default for --coreml-baseline", default="")
    parser.addini("coreml_regression", "default for --coreml-regression",
                  default=DEFAULT_LIMITS)
    parser.addini("coreml_golden", "default for --coreml-golden", default="")
    parser.addini("coreml_golden_tolerance", "default for --coreml-golden-tolerance",
                  default="")
    parser.addini("coreml_strict", "default for --coreml-strict", type="bool", default=False)


def configure(config: pytest.Config) -> GateSettings:
    """Read the gate options (command line over ini); bad values and bad baseline files are
    usage errors naming the option or the file."""
    def pick(option: str, ini: str):
        value = config.getoption(option)
        return value if value is not None else config.getini(ini)

    base = Path(config.invocation_params.dir)
    path = pick("--coreml-baseline", "coreml_baseline")
    update = config.getoption("--coreml-baseline-update")
    if update and not path:
        raise pytest.UsageError("--coreml-baseline-update needs --coreml-baseline=PATH "
                                "(or ini coreml_baseline)")
    if config.getoption("--coreml-baseline-prune") and not update:
        raise pytest.UsageError("--coreml-baseline-prune needs --coreml-baseline-update")
    try:
        baseline = None
        if path:
            from .baseline import Baseline, load_baseline

            path = base / path
            baseline = (Baseline({}, path) if update and not path.exists()
                        else load_baseline(path))
        limits = parse_limits(pick("--coreml-regression", "coreml_regression"))
        golden_tol = pick("--coreml-golden-tolerance", "coreml_golden_tolerance")
        golden = pick("--coreml-golden", "coreml_golden")
        save = config.getoption("--coreml-golden-save")
        settings = GateSettings(
            baseline=baseline, update_baseline=update, limits=limits,
            golden_dir=base / golden if golden else None,
            golden_save_dir=base / save if save else None,
            golden_tolerance=Tolerance.parse(golden_tol, origin="--coreml-golden-tolerance")
            if golden_tol else None,
            strict=bool(pick("--coreml-strict", "coreml_strict")))
    except ValueError as exc:  # BaselineError too
        raise pytest.UsageError(str(exc)) from None
    if settings.golden_dir is not None and not settings.golden_dir.is_dir():
        raise pytest.UsageError(f"--coreml-golden {settings.golden_dir}: no such directory")
    config.stash[gates_key] = settings
    if update:
        from .update import BaselineUpdater

        prune = config.getoption("--coreml-baseline-prune")
        updater = BaselineUpdater(config, baseline.path, prune)
        config.stash[updater_key] = updater
        config.pluginmanager.register(updater, "coremlcheck_baseline_updater")
    return settings


def update_lines(config: pytest.Config) -> list[tuple[str, bool]]:
    """What ``--coreml-baseline-update`` did, for the terminal: (line, is_error)."""
    updater = config.stash.get(updater_key, None)
    if updater is None:
        return []
    return [(line, False) for line in updater.lines] + (
        [(updater.error, True)] if updater.error else [])


def summary_lines(checks: list[dict], settings: GateSettings) -> list[str]:
    """What the gates did over the session: counts per outcome, and every check that was not
    compared or regressed."""
    from .baseline import check_id

    lines = []
    for gate, title in (("baseline", f"baseline {settings.baseline and settings.baseline.path}"),
                        ("golden", f"golden outputs {settings.golden_dir}"),
                        ("golden_save", f"golden outputs saved to {settings.golden_save_dir}")):
        outcomes = [(c, c["gates"][gate]) for c in checks if gate in c.get("gates", {})]
        if not outcomes:
            continue
        counts: dict[str, int] = {}
        for _, outcome in outcomes:
            key = outcome.split(";")[0].split(":")[0].split(" (")[0]
            counts[key] = counts.get(key, 0) + 1
        lines.append(f"coreml {title}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        lines += [f"  {check_id(c)}: {outcome}"
                  for c, outcome in outcomes if outcome not in ("compared", "saved")]
    return lines
