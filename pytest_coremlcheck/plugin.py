"""pytest wiring: options, ini, the ``coreml_equivalence`` marker and the ``coreml_check``
fixture. The check itself lives in ``check/``; reports read the session store
(``store.py``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from .compare.tolerance import Tolerance
from .convert.cache import ConversionCache
from .errors import CheckError, EquivalenceError, RuntimeUnavailable
from .gates import options as gate_options
from .report import notices
from .runtimes import BACKENDS, coreml_available, parse_compute_units
from .settings import LOCALIZE_MODES, CheckSettings, parse_bundle_dirs
from .store import CheckStore, store_key

# Loading the plugin imports only what configuring a run needs (no numpy, torch or report
# templates): the check, conversions and reports are imported when a test first uses them.

#: The linter's and the declared checks' plugins load with this one (one entry point: ``-p
#: no:coremlcheck`` turns everything off); each can be turned off alone by its module name.
pytest_plugins = ["pytest_coremlcheck.lint.pytest_plugin", "pytest_coremlcheck.declarative.plugin"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspec

    pluginmanager.add_hookspecs(hookspec)


# Before any conftest imports coremltools: its start-up notices are held back (report.notices).
notices.hold_back()

MARKER = "coreml_equivalence"
FP16_MODES = ("typed", "fp16-accumulate", "device-risk", "fp32")  # reference.mil.fp16.MODES
CACHE_MODES = ("off", "read", "write", "on")
cache_key = pytest.StashKey[ConversionCache]()
#: the run-wide settings, parsed and validated once in pytest_configure
settings_key = pytest.StashKey[CheckSettings]()
#: the check dicts of a test, carried to the (xdist controller's) session store on the
#: TestReport attribute ``coreml_checks``; JUnit gets only key metrics (user_properties)
entries_key = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("coremlcheck", "Core ML equivalence checks")
    group.addoption("--coreml-backend", choices=BACKENDS, default=None,
                    help="what runs the converted model: coreml (macOS), reference (the "
                         "portable executor) or auto (coreml on macOS, else reference). "
                         "Default: ini coreml_backend or auto.")
    group.addoption("--coreml-compute-units", default=None,
                    help="Core ML compute units, a comma list run one after another: ALL, "
                         "CPU_ONLY, CPU_AND_GPU, CPU_AND_NE. Default: ALL.")
    group.addoption("--coreml-tolerance", default=None,
                    help="default tolerance for every check, e.g. 'min_snr_db=40,min_cosine="
                         "0.999'. Markers and the fixture's tolerance= override it field by "
                         "field. Without any: for fp32 programs min_snr_db=min(floor-30, 120) "
                         "per output (floor: the source's float32 vs float64 SNR; 85 when it "
                         "cannot run in float64) and min_cosine=0.99999; "
                         "min_snr_db=30,min_cosine=0.999 for fp16.")
    group.addoption("--coreml-fp16-mode", choices=FP16_MODES,
                    default=None,
                    help="reference executor FP16 mode: typed (round every value declared "
                         "fp16; default), fp16-accumulate (also accumulate conv/matmul/linear "
                         "in fp16: pessimistic), device-risk (fp16 inside softplus, log-sum-exp, "
                         "norms, reductions: pessimistic) or fp32 (ignore declared fp16: the "
                         "ideal).")
    group.addoption("--coreml-no-hazard-watch", action="store_true", default=False,
                    help="do not record the first op whose output goes NaN/Inf or leaves the "
                         "fp16 range (recorded by default and named in failure messages).")
    group.addoption("--coreml-cache", choices=CACHE_MODES, default=None,
                    help="conversion cache for models the plugin converts or derives "
                         "(variants): on (default), read, write (rebuild), off.")
    group.addoption("--coreml-cache-dir", default=None,
                    help="conversion cache directory (default: coremlcheck/ in pytest's cache "
                         "directory, or .coremlcheck-cache/ when the cache plugin is off).")
    group.addoption("--coreml-localize", choices=LOCALIZE_MODES, default=None,
                    help="localise where a converted ML program loses accuracy (reference "
                         "executor): failed (default: failing checks), all, or off. The op "
                         "adding the most error and a verified fix show in the failure "
                         "message and the reports; a verdict never changes.")
    group.addoption("--coreml-report", action="append", default=None, metavar="PATH",
                    help="write a report; the suffix picks the format (.json, .md, .html). "
                         "Repeatable: one file per format.")
    parser.addini("coreml_backend", "default for --coreml-backend", default="auto")
    parser.addini("coreml_compute_units", "default for --coreml-compute-units", default="ALL")
    parser.addini("coreml_tolerance", "default for --coreml-tolerance", default="")
    parser.addini("coreml_fp16_mode", "default for --coreml-fp16-mode", default="typed")
    parser.addini("coreml_bundle_dirs", "directories of linked models' search paths, one "
                  "'name=path' per line: main=... for $BUNDLE_MAIN, <bundle id>=... for "
                  "$BUNDLE_IDENTIFIER(<bundle id>); relative to the rootdir", type="linelist",
                  default=[])
    parser.addini("coreml_cache", "default for --coreml-cache", default="on")
    parser.addini("coreml_cache_dir", "default for --coreml-cache-dir", default="")
    parser.addini("coreml_localize", "default for --coreml-localize", default="failed")
    parser.addini("coreml_report", "report paths (like --coreml-report)", type="linelist",
                  default=[])
    gate_options.add_options(group, parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**tolerance, variants=None): default Tolerance fields "
        f"({', '.join(f.name for f in dataclasses.fields(Tolerance))}) for every "
        "coreml_check in the test, and the model variants to check (fp32, fp16, int8, "
        "int4-block, palettize1/2/4/6/8[-uniform], prune50, prune50+palettize4)",
    )
    notices.register(config)
    store = CheckStore()
    config.stash[store_key] = store
    gate_options.configure(config)
    config.stash[settings_key] = settings_from_config(config)
    _check_report_paths(_report_paths(config))
    _install_dropin(config)
    if not hasattr(config, "workerinput"):  # xdist workers send their reports to the controller
        config.pluginmanager.register(SessionReporter(config, store), "coremlcheck_reporter")


def _install_dropin(config: pytest.Config) -> None:
    """``--coreml-backend=reference`` without Core ML: MLModel.predict runs the executor too."""
    settings = config.stash[settings_key]
    if settings.backend != "reference" or coreml_available():
        return

    from .runtimes import dropin

    config.add_cleanup(dropin.install(settings.fp16_mode))


def run_settings(config: pytest.Config) -> CheckSettings:
    """The settings ``pytest_configure`` validated (parsed now when the plugin's configure
    has not run, e.g. a config built by hand)."""
    settings = config.stash.get(settings_key, None)
    if settings is None:
        settings = config.stash[settings_key] = settings_from_config(config)
    return settings


def settings_from_config(config: pytest.Config) -> CheckSettings:
    """Command line over ini over built-in defaults; a bad value is a usage error naming the
    option (or ini key) and what was expected."""
    def pick(option: str, ini: str):
        value = config.getoption(option)
        return value if value is not None else config.getini(ini)

    def origin(option: str, ini: str) -> str:
        return option if config.getoption(option) is not None else f"ini {ini}"

    try:
        tolerance_text = pick("--coreml-tolerance", "coreml_tolerance")
        return CheckSettings(
            backend=_choice(pick("--coreml-backend", "coreml_backend"), BACKENDS,
                            origin("--coreml-backend", "coreml_backend")),
            compute_units=_compute_units(pick("--coreml-compute-units", "coreml_compute_units"),
                                         origin("--coreml-compute-units",
                                                "coreml_compute_units")),
            fp16_mode=_choice(pick("--coreml-fp16-mode", "coreml_fp16_mode"), FP16_MODES,
                              origin("--coreml-fp16-mode", "coreml_fp16_mode")),
            watch_hazards=not config.getoption("--coreml-no-hazard-watch"),
            default_tolerance=Tolerance.parse(
                tolerance_text, origin=origin("--coreml-tolerance", "coreml_tolerance"))
            if tolerance_text else None,
            cache=_conversion_cache(config, _choice(pick("--coreml-cache", "coreml_cache"),
                                                    CACHE_MODES,
                                                    origin("--coreml-cache", "coreml_cache")),
                                    pick("--coreml-cache-dir", "coreml_cache_dir")),
            lint=_lint_hook(config),
            artifacts_dir=_artifacts_dir(config),
            pictures_of_passing=any(p.suffix.lower() == ".html" for p in _report_paths(config)),
            bundle_dirs=_bundle_dirs(config),
            localize=_choice(pick("--coreml-localize", "coreml_localize"), LOCALIZE_MODES,
                             origin("--coreml-localize", "coreml_localize")),
            localizer=_localizer,
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _localizer(*args) -> None:
    """The localisation step (``localize.step``), imported when a check first needs it."""
    from .localize.step import localise_results

    localise_results(*args)


def _choice(value: str, choices, origin: str) -> str:
    if value not in choices:
        raise ValueError(f"{origin}: {value!r} is not one of {', '.join(choices)}")
    return value


def _compute_units(text: str, origin: str) -> list[str]:
    try:
        return parse_compute_units(text)
    except ValueError as exc:
        raise ValueError(f"{origin}: {exc}") from None


def _check_report_paths(paths: list[Path]) -> None:
    """Usage error for a report path that cannot be written: an unknown suffix, or a
    directory that is a file or not writable (checked where it exists)."""
    if not paths:
        return
    from .report import FORMATS

    for path in paths:
        if path.suffix.lower() not in FORMATS:
            raise pytest.UsageError(f"--coreml-report {path}: unknown format "
                                    f"{path.suffix!r}; expected one of "
                                    f"{', '.join(sorted(FORMATS))}")
        existing = path.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise pytest.UsageError(f"--coreml-report {path}: cannot be written, {existing} "
                                    "is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise pytest.UsageError(f"--coreml-report {path}: cannot be written, {existing} "
                                    "is not writable")


def _conversion_cache(config: pytest.Config, mode: str, directory: str) -> ConversionCache:
    """The session's conversion cache (one per config, shared by every check)."""
    cache = config.stash.get(cache_key, None)
    if cache is None:
        if not directory:
            provider = getattr(config, "cache", None)
            directory = (provider.mkdir("coremlcheck") if provider is not None
                         else Path(config.rootpath) / ".coremlcheck-cache")
        cache = ConversionCache(directory, mode)
        config.stash[cache_key] = cache
    return cache


def _bundle_dirs(config: pytest.Config) -> dict[str, str] | None:
    """ini ``coreml_bundle_dirs`` (see ``settings.parse_bundle_dirs``)."""
    return parse_bundle_dirs(config.getini("coreml_bundle_dirs"), Path(config.rootpath))


def _artifacts_dir(config: pytest.Config) -> Path | None:
    """Beside the first report: ``<report dir>/coreml-artifacts`` (None without a report)."""
    paths = _report_paths(config)
    return paths[0].parent / "coreml-artifacts" if paths else None


def _report_paths(config: pytest.Config) -> list[Path]:
    paths = config.getoption("--coreml-report") or config.getini("coreml_report") or []
    base = Path(config.invocation_params.dir)
    return [Path(p) if Path(p).is_absolute() else base / p for p in paths]


def _lint_hook(config: pytest.Config):
    """Per-check linting through ``pytest_coremlcheck_lint_model`` (no findings when no
    plugin implements it, e.g. under ``-p no:pytest_coremlcheck.lint.pytest_plugin``)."""
    def lint(model):
        found = config.hook.pytest_coremlcheck_lint_model(config=config, model=model)
        return found if found is not None else ([], [])
    return lint


def marker_options(node: pytest.Item) -> tuple[Tolerance | None, Any]:
    """The test's ``coreml_equivalence`` markers (outermost first, layered): the tolerance
    fields, and ``variants`` when a marker names them (the closest marker wins)."""
    markers = list(node.iter_markers(MARKER))
    if not markers:
        return None, None
    layers, variants = [], None
    for marker in reversed(markers):  # iter_markers yields the closest first
        if marker.args:
            raise pytest.UsageError(f"{node.nodeid}: @pytest.mark.{MARKER} takes keyword "
                                    "tolerance fields (and variants=) only")
        fields = dict(marker.kwargs)
        if "variants" in fields:
            variants = fields.pop("variants")
        try:
            layers.append(Tolerance.from_mapping(fields, origin=f"@pytest.mark.{MARKER}"))
        except (TypeError, ValueError) as exc:
            raise pytest.UsageError(f"{node.nodeid}: {exc}") from None
    return Tolerance.layered(*layers), variants


@pytest.fixture(scope="session")
def coreml_convert(pytestconfig: pytest.Config):
    """Callable: ``coreml_convert(source, *, example=None, **ct_convert_arguments)
    -> MLModel``.

    ``ct.convert`` through the session's conversion cache (``--coreml-cache``), for tests and
    fixtures that need the converted model itself: to quantize it, put it in a pipeline, link
    it. The arguments are ``ct.convert``'s (``inputs=[ct.TensorType(...)]``, ``convert_to``,
    ...). The source is traced with ``example`` (inputs as ``coreml_check`` takes them;
    default: one random sample shaped from ``inputs``). Session-scoped, so module- and
    session-scoped fixtures can use it.
    """
    from .convert.fixture import convert_cached

    cache = run_settings(pytestconfig).cache

    def convert(source, *, example=None, **convert_arguments):
        __tracebackhide__ = True
        try:
            return convert_cached(source, convert_arguments, cache, example)
        except CheckError as exc:
            pytest.fail(f"coreml_convert could not convert: {exc}", pytrace=False)

    return convert


@pytest.fixture
def coreml_check(request: pytest.FixtureRequest):
    """Callable: ``coreml_check(source, converted=None, *, inputs=None, convert=None,
    tolerance=None, name=None, variants=None, shapes=None, source_stages=None)``.

    Runs the source and the converted model on the same inputs, compares every output,
    records the result for the report and fails the test with the table when a tolerance
    is broken. Returns the EquivalenceResult, or a ResultSet when the check ran several models
    (variants), input shapes or compute units.
    """
    from .check import run_check
    from .check.result import ResultSet
    from .gates.apply import apply_gates
    from .gates.golden import GoldenError
    from .report.junit import junit_properties

    settings = run_settings(request.config)
    gates = request.config.stash[gate_options.gates_key]
    node = request.node
    entries = node.stash[entries_key] = []  # fresh when a test is run again
    counter = [0]

    def check(source=None, converted=None, *, inputs=None, convert=None, tolerance=None,
              name=None, variants=None, shapes=None, source_stages=None):
        __tracebackhide__ = True
        counter[0] += 1
        label = name or (f"check {counter[0]}" if counter[0] > 1 else node.name)
        marker_tolerance, marker_variants = marker_options(node)
        try:
            results = run_check(source, converted, inputs=inputs, convert=convert,
                                tolerance=tolerance, name=label,
                                marker_tolerance=marker_tolerance, settings=settings,
                                variants=variants if variants is not None else marker_variants,
                                shapes=shapes, source_stages=source_stages)
            unable = apply_gates(results, node.nodeid, gates)
            error = None
        except RuntimeUnavailable as exc:
            if not gates.strict:
                pytest.skip(f"coreml_check {label!r}: {exc}")
            error = f"strict: {exc}"
        except (CheckError, GoldenError) as exc:
            error = str(exc)
        if error is not None:
            entries.append(_error_entry(label, error))
            pytest.fail(f"coreml_check {label!r} could not run: {error}\n{_call_site(1)}"
                        .rstrip(), pytrace=False)
        for result in results:
            entry = result.to_dict()
            entries.append(entry)
            node.user_properties.extend(junit_properties(entry))
        failing = [r for r in results if not r.passed]
        if failing:
            raise EquivalenceError(failing[0], also_failed=failing[1:])
        if unable:
            pytest.skip("coreml_check could not do what was asked: " + "; ".join(unable))
        return results[0] if len(results) == 1 else ResultSet(results)

    return check



@pytest.fixture
def coreml_update_check(request: pytest.FixtureRequest):
    """Callable: ``coreml_update_check(converted, update: UpdateCheck, *, name=None)``.

    Training parity (``training``): the emulated on-device update of ``converted``
    against the source trained by ``update.source_trainer``; records the result for the
    report and fails the test with the table when weights, predictions or losses differ.
    """
    from .training.parity import check_update

    node = request.node
    node.stash.setdefault(entries_key, [])

    def check(converted, update, *, name=None):
        __tracebackhide__ = True
        entries = node.stash[entries_key]  # coreml_check, set up later, may replace the list
        label = name or f"{node.name} (update)"
        try:
            result = check_update(converted, update, name=label)
        except CheckError as exc:
            entries.append(_error_entry(label, str(exc)))
            pytest.fail(f"coreml_update_check {label!r} could not run: {exc}", pytrace=False)
        entries.append(result.to_dict())
        if not result.passed:
            raise EquivalenceError(result)
        return result

    return check


@pytest.fixture
def coreml_decode_check(request: pytest.FixtureRequest, coreml_check):
    """Callable: ``coreml_decode_check(source, converted, prompt, *, steps=32,
    teacher_forcing=False, tolerance=None, ...)`` — ``pytest_coremlcheck.decode.run_decode``'s
    arguments. Runs a greedy decode loop on both sides, records the result for the report and
    fails the test naming the first failing step. Returns the ``DecodeResult``.
    """
    from .decode.loop import run_decode
    from .report.junit import junit_properties

    node = request.node

    def check(source, converted, prompt, **kw):
        __tracebackhide__ = True
        marker_tolerance, _ = marker_options(node)
        kw["tolerance"] = Tolerance.layered(marker_tolerance, Tolerance.from_mapping(
            kw["tolerance"]) if isinstance(kw.get("tolerance"), dict) else kw.get("tolerance"))
        kw.setdefault("name", node.name)
        try:
            result = run_decode(source, converted, prompt, **kw)
        except CheckError as exc:
            node.stash[entries_key].append(_error_entry(kw["name"], str(exc)))
            pytest.fail(f"coreml_decode_check could not run: {exc}\n{_call_site(1)}".rstrip(),
                        pytrace=False)
        entry = result.to_dict()
        node.stash[entries_key].append(entry)
        node.user_properties.extend(junit_properties(entry))
        if not result.passed:
            raise EquivalenceError(result)
        return result

    return check


def _call_site(depth: int) -> str:
    """``  at path:line: code`` of the frame ``depth`` levels above the caller (the test's
    ``coreml_check(...)`` line), the path relative to the working directory when inside it;
    empty when that frame is this package's own (checks declared in TOML)."""
    import linecache
    import sys

    frame = sys._getframe(depth + 1)
    path, line = frame.f_code.co_filename, frame.f_lineno
    if path.startswith(os.path.dirname(__file__) + os.sep):  # a declared check: no user line
        return ""
    code = linecache.getline(path, line).strip()
    shown = os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path
    return f"  at {shown}:{line}: {code}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach the test's check dicts to its call report (they travel to the xdist controller:
    extra TestReport attributes survive report serialization)."""
    outcome = yield
    entries = item.stash.get(entries_key, None)
    if call.when == "call" and entries:
        outcome.get_result().coreml_checks = list(entries)


def _error_entry(label: str, error: str) -> dict:
    return {"name": label, "passed": False, "backend": "-", "platform": "-", "outputs": {},
            "failures": [f"could not run: {error}"], "error": error}


class SessionReporter:
    """Collects check entries from test reports (also from xdist workers) into the store,
    then prints the summary and writes the reports."""

    def __init__(self, config: pytest.Config, store: CheckStore):
        self.config = config
        self.store = store
        self.session: pytest.Session | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Pictures are named by content: drop the previous session's before workers start."""
        self.session = session
        directory = _artifacts_dir(self.config)
        if directory is not None:
            from .report.pictures import clear_pictures

            clear_pictures(directory)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for entry in getattr(report, "coreml_checks", None) or ():
            self.store.add(report.nodeid, entry)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        updates = gate_options.update_lines(self.config)
        if not self.store.checks and not updates:
            return
        terminalreporter.section("Core ML equivalence")
        if not self.store.checks:
            for line, error in updates:
                terminalreporter.write_line(line, red=error)
            return
        from .report import write_report
        from .report.summary import summary_lines

        writer = self.config.get_terminal_writer()
        for line in summary_lines(self.store.checks, width=writer.fullwidth,
                                  color=writer.hasmarkup,
                                  show_all=self.config.option.verbose > 0):
            terminalreporter.write_line(line)
        gates = self.config.stash[gate_options.gates_key]
        for line in gate_options.summary_lines(self.store.checks, gates):
            terminalreporter.write_line(line)
        for line, error in updates:
            terminalreporter.write_line(line, red=error)
        for path in _report_paths(self.config):
            try:
                written = write_report(path, self.store.checks)
            except (OSError, ValueError) as exc:
                terminalreporter.write_line(f"coreml report {path}: not written: {exc}", red=True)
                self._fail_session()
            else:
                terminalreporter.write_line(f"coreml report written to {written}")

    def _fail_session(self) -> None:
        """A report asked for and not written: the run must not exit 0 (usage error, 4)."""
        if self.session is not None and self.session.exitstatus in (
                pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            self.session.exitstatus = pytest.ExitCode.USAGE_ERROR
