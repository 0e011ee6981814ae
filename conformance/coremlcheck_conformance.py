"""pytest plugin: run coremltools' own op tests with predictions made by the reference executor.

coremltools' op tests build a model, convert it, and, on macOS only, predict with Core ML and
compare against hand-computed or source-framework outputs. This plugin makes that step run
anywhere:

- ``MLModel.predict`` runs ``pytest_coremlcheck.reference.ReferenceModel`` (built once per
  model); the test's own comparison then applies unchanged (its tolerances, its shapes).
- The tests' macOS gates (``_IS_MACOS`` in the testing utilities, ``_macos_version()``) report
  a recent macOS, so the comparison is reached instead of skipped.
- Cases for the NeuralNetwork backend are skipped ("NeuralNetwork backend, covered
  separately"); failures caused by a macOS-only API (compiled models, compute plans, the
  Core ML framework proxy) become skips that say so.
- Each case gets a wall-clock limit (``--conformance-timeout``, SIGALRM).
- One JSON line per case goes to ``$COREMLCHECK_CONFORMANCE_OUT/results-<worker>.jsonl``:
  node id, outcome, whether a prediction was made, and a reason for skips and failures.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path

import pytest

#: The macOS version the tests are told they run on (macOS 15 runs iOS18 programs).
EMULATED_MACOS = (15, 5)
NN_REASON = "NeuralNetwork backend, covered separately"

os.environ.setdefault("RUN_BACKWARD_COMPATIBILITY", "1")

_state = {"predicted": False, "node": None}


class ConformanceTimeout(Exception):
    """A case ran longer than ``--conformance-timeout`` seconds."""


def pytest_addoption(parser):
    group = parser.getgroup("coremlcheck-conformance")
    group.addoption("--conformance-timeout", type=float, default=300.0,
                    help="seconds one case may run before it fails as a timeout (default 300)")
    group.addoption("--conformance-precision", choices=("fp16", "fp32", "any"), default="any",
                    help="keep only ML program cases of this precision (fp16 also keeps cases "
                         "without a backend parameter)")
    group.addoption("--conformance-out", default=os.environ.get("COREMLCHECK_CONFORMANCE_OUT"),
                    help="directory for results-<worker>.jsonl")


# --------------------------------------------------------------------------- routing


class _ReferenceState:
    """Stands in for ``MLState`` when the executor keeps no state object of its own."""


def _route_predictions() -> None:
    import coremltools.models.model as model_module
    from coremltools.models import MLModel

    from pytest_coremlcheck.reference import ExecutionError, ReferenceModel

    def predict(self, data, state=None):
        try:
            return _predict(self, data, state)
        except ExecutionError as exc:  # Core ML reports a failed prediction this way
            raise RuntimeError(
                f"Unable to compute the prediction using ML Program. {exc}") from exc

    def _predict(self, data, state=None):
        _state["predicted"] = True
        reference = self.__dict__.get("_coremlcheck_reference")
        if reference is None:
            reference = ReferenceModel(self)
            self.__dict__["_coremlcheck_reference"] = reference
        if isinstance(data, list):  # batch predict: one prediction per dict
            return [reference.predict(dict(d), state=state) for d in data]
        data = {k: (v.detach().numpy() if hasattr(v, "detach") else v) for k, v in data.items()}
        return reference.predict(data, state=_unwrap_state(state))

    def make_state(self):
        reference = self.__dict__.get("_coremlcheck_reference")
        if reference is None:
            reference = ReferenceModel(self)
            self.__dict__["_coremlcheck_reference"] = reference
        factory = getattr(reference, "make_state", None)
        return factory() if factory is not None else _ReferenceState()

    MLModel.predict = predict
    MLModel.make_state = make_state
    model_module.MLModel.predict = predict


def _unwrap_state(state):
    return None if isinstance(state, _ReferenceState) else state


def _emulate_macos() -> None:
    import coremltools._deps as deps
    import coremltools.models.utils as utils

    utils._macos_version = lambda: EMULATED_MACOS
    deps._IS_MACOS = True  # read by test modules imported from here on
    for name in ("coremltools.converters.mil.testing_utils",
                 "coremltools.converters.mil.frontend.torch.test.testing_utils"):
        try:
            module = __import__(name, fromlist=["_IS_MACOS"])
        except Exception:  # the torch frontend's utilities need torch
            continue
        module._IS_MACOS = True


class _NoFullCollect:
    """``gc`` for ``ct.convert``: its full collection after every conversion costs seconds
    once torch and TensorFlow are loaded; the automatic collector still runs."""

    @staticmethod
    def collect(*args, **kwargs):
        return 0


def _speed_up_conversion() -> None:
    import gc

    import coremltools.converters._converters_entry as entry

    entry.gc = _NoFullCollect
    gc.freeze()  # objects alive after the imports are never garbage


def pytest_configure(config):
    _state["config"] = config
    _route_predictions()
    _emulate_macos()
    _speed_up_conversion()


def pytest_collection_modifyitems(config, items):
    # test modules imported during collection may hold their own copy of the gate
    for name, module in list(sys.modules.items()):
        if name.startswith("coremltools.") and hasattr(module, "_IS_MACOS") and ".test" in name:
            module._IS_MACOS = True
    precision = config.getoption("--conformance-precision")
    if precision != "any":
        keep, drop = [], []
        for item in items:
            own = _precision_of(item)
            (keep if own == precision or (own is None and precision == "fp16") else drop).append(
                item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    skip_nn = pytest.mark.skip(reason=NN_REASON)
    for item in items:
        if _is_neuralnetwork_case(item):
            item.add_marker(skip_nn)


def _precision_of(item) -> str | None:
    """The ML program precision a case runs at (None: no backend parameter, or NeuralNetwork)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for value in callspec.params.values():
        if getattr(value, "backend", None) == "mlprogram":
            return value.precision
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "mlprogram":
            return value[1]
    return None


def _is_neuralnetwork_case(item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    for value in callspec.params.values():
        backend = getattr(value, "backend", None)
        if backend == "neuralnetwork":
            return True
        if isinstance(value, tuple) and value and value[0] == "neuralnetwork":
            return True
    return False


# --------------------------------------------------------------------------- running


def _on_alarm(signum, frame):
    raise ConformanceTimeout("case exceeded the conformance time limit")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _state["predicted"] = False
    _state["node"] = item.nodeid
    timeout = item.config.getoption("--conformance-timeout")
    use_alarm = timeout and hasattr(signal, "SIGALRM")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


#: failures caused by APIs that exist only with the Core ML framework on macOS
_MACOS_ONLY = re.compile(
    r"libcoremlpython|_MLModelProxy|_MLComputePlan|Core ?ML\.framework|compiled model|"
    r"get_compiled_model_path|CompiledMLModel|MLComputePlan|compute_plan|"
    r"not loaded with the Core ML Framework|NoneType' object has no attribute 'newState'|"
    r"_MLModelAssetProxy|_MLCPUComputeDeviceProxy"
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.coremlcheck_predicted = _state["predicted"]
    report.coremlcheck_xfail = item.get_closest_marker("xfail") is not None or (
        call.excinfo is not None and call.excinfo.typename == "XFailed")
    if call.excinfo is not None and report.outcome == "failed" and call.when == "call":
        text = _exception_text(call.excinfo)
        if not _state["predicted"] and _MACOS_ONLY.search(text):
            report.outcome = "skipped"
            path, line = item.location[0], (item.location[1] or 0) + 1
            report.longrepr = (path, line, "Skipped: needs a macOS-only Core ML API")
            report.coremlcheck_reason = "needs a macOS-only Core ML API"


def _exception_text(excinfo) -> str:
    lines = traceback.format_exception_only(excinfo.type, excinfo.value)
    return "".join(lines)


def pytest_collectreport(report):
    if report.failed:
        _write({"nodeid": _normalise_nodeid(report.nodeid), "when": "collect", "outcome": "failed",
                "predicted": False, "duration": 0.0, "error": str(report.longrepr)[-3000:]})


def pytest_runtest_logreport(report):
    """Write the report that decides a case's outcome, in the process that ran it."""
    config = _state.get("config")
    if config is not None and config.pluginmanager.has_plugin("dsession"):
        return  # the xdist controller: the worker has written it
    out_dir = _out_dir()
    if out_dir is None:
        return
    final = (report.when == "call" or (report.when == "setup" and report.outcome != "passed")
             or (report.when == "teardown" and report.outcome == "failed"))
    if not final:
        return
    record = {
        "nodeid": _normalise_nodeid(report.nodeid),
        "when": report.when,
        "outcome": report.outcome,
        "predicted": bool(getattr(report, "coremlcheck_predicted", False)),
        "duration": round(report.duration, 3),
    }
    if hasattr(report, "wasxfail"):
        if report.outcome == "skipped":
            record["outcome"] = "xfailed"
        record["xfail_reason"] = str(report.wasxfail) or "(no reason given)"
    if record["outcome"] == "skipped":
        record["reason"] = getattr(report, "coremlcheck_reason", None) or _skip_reason(report)
    elif report.outcome == "failed":
        record["error"] = _failure_text(report)
        record["xfail_marked"] = bool(getattr(report, "coremlcheck_xfail", False))
    _write(record)


def _write(record: dict) -> None:
    out_dir = _out_dir()
    if out_dir is None:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(out_dir / f"results-{worker}.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")


def _normalise_nodeid(nodeid: str) -> str:
    """Node ids relative to the coremltools package (``converters/mil/...::Test::case``)."""
    marker = "coremltools/"
    index = nodeid.find(marker)
    return nodeid[index + len(marker):] if index >= 0 else nodeid


def _out_dir() -> Path | None:
    value = os.environ.get("COREMLCHECK_CONFORMANCE_OUT")
    if not value:
        return None
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr)
    return text.removeprefix("Skipped: ").strip()


def _failure_text(report) -> str:
    """The exception line(s) of a failure, plus the innermost frame in the executor."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(longrepr)[-2000:]
    where = ""
    chain = getattr(longrepr, "chain", None) or []
    for element in chain:
        tb = element[0]
        for entry in getattr(tb, "reprentries", []):
            loc = getattr(entry, "reprfileloc", None)
            if loc is not None and "pytest_coremlcheck" in str(loc.path):
                where = f"{loc.path}:{loc.lineno}"
    return (message[:3000] + (f"\n@ {where}" if where else ""))
