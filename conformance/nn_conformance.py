"""NeuralNetwork-backend conformance of the reference executor.

Runs coremltools' shipped MIL op tests restricted to their NeuralNetwork backend cases
(``BackendConfig("neuralnetwork", "fp32", iOS14)``, i.e. ``PYMIL_TEST_TARGETS=neuralnetwork``)
with every ``MLModel.predict`` answered by ``ReferenceModel``, and writes
``conformance/nn_summary.json``.

Optionally (``--suite layers`` or ``all``) it also runs coremltools' NeuralNetwork layer tests
(``coremltools/test/neural_network/test_numpy_nn_layers.py`` and friends), which build specs
with ``NeuralNetworkBuilder`` and compare against numpy.

How the tests are made to reach their comparisons off macOS:

- ``coremltools.converters.mil.testing_utils._IS_MACOS`` is set, so ``compare_backend`` predicts
  and compares;
- ``coremltools.models.utils._macos_version`` reports macOS 14, so import-time ``skipif``
  decorators keyed on the OS version do not skip (``_is_macos`` still says False, so nothing
  tries to load Core ML);
- ``MLModel.predict`` runs ``ReferenceModel(model).predict``;
- for the layer tests only, ``coremltools.models.utils._is_macos`` answers True for modules
  imported afterwards (the test modules gate whole classes on it at import time).

The pass rate counts the cases that asked for a prediction (the conversion succeeded and the
test reached its numeric comparison); executor errors count as failures.

Usage::

    python conformance/nn_conformance.py [--suite mil|layers|all] [-n WORKERS] [-k EXPR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUMMARY = HERE / "nn_summary.json"
_CURRENT: dict = {"item": None}


# --------------------------------------------------------------------------- pytest plugin


def pytest_configure(config):
    """Route predictions through the reference executor (runs in every xdist worker too)."""
    import coremltools.converters.mil.testing_utils as testing_utils
    import coremltools.models.utils as model_utils
    from coremltools.models import MLModel

    testing_utils._IS_MACOS = True
    model_utils._macos_version = lambda: (14, 0)
    if os.environ.get("NN_CONFORMANCE_LAYER_TESTS") == "1":
        # The layer tests gate whole classes on ``_is_macos()`` at import time; coremltools'
        # own modules were imported earlier and keep the real answer.
        model_utils._is_macos = lambda: True
    MLModel.predict = _reference_predict


def _reference_predict(self, data, state=None):
    from pytest_coremlcheck.reference import ReferenceModel

    item = _CURRENT["item"]
    if item is not None:
        item.user_properties.append(("nn_predict", True))
    model = getattr(self, "_nn_reference", None)
    try:
        if model is None:
            model = ReferenceModel(self)
            self._nn_reference = model
        return model.predict(data, state)
    except Exception as exc:
        if item is not None:
            item.user_properties.append(("nn_error", f"{type(exc).__name__}: {exc}"))
        raise


def pytest_runtest_setup(item):
    _CURRENT["item"] = item


def pytest_runtest_teardown(item):
    _CURRENT["item"] = None


# --------------------------------------------------------------------------- collection


class _Collector:
    """Aggregates reports (in the controlling process) into the summary."""

    def __init__(self):
        self.cases: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        case = self.cases.setdefault(report.nodeid, {"outcome": "passed"})
        props = dict(report.user_properties)
        if props.get("nn_predict"):
            case["predicted"] = True
        if "nn_error" in props:
            case["executor_error"] = props["nn_error"]
        if report.skipped and report.when in ("setup", "call"):
            case["outcome"] = "skipped"
        elif report.failed:
            case["outcome"] = "failed"
            case.setdefault("message", _first_line(report))


def _first_line(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _test_paths(suite: str) -> list[str]:
    import coremltools

    root = Path(coremltools.__file__).parent
    paths = []
    if suite in ("mil", "all"):
        paths.append(str(root / "converters/mil/mil/ops/tests/iOS14"))
    if suite in ("layers", "all"):
        nn = root / "test/neural_network"
        paths += [str(nn / name) for name in (
            "test_numpy_nn_layers.py", "test_nn_builder.py", "test_simple_nn_inference.py",
            "test_quantization.py")]
    return paths


def summarise(cases: dict[str, dict], duration: float, suite: str) -> dict:
    reached = {k: v for k, v in cases.items() if v.get("predicted")}
    passed = sum(1 for v in reached.values() if v["outcome"] == "passed")
    failures = []
    for nodeid, case in sorted(reached.items()):
        if case["outcome"] != "failed":
            continue
        kind = "executor_error" if "executor_error" in case else "mismatch"
        failures.append({"case": nodeid.split("site-packages/")[-1], "kind": kind,
                         "message": case.get("executor_error") or case.get("message", "")})
    by_file: dict[str, Counter] = defaultdict(Counter)
    for nodeid, case in reached.items():
        name = nodeid.split("::")[0].rsplit("/", 1)[-1]
        by_file[name]["passed" if case["outcome"] == "passed" else "failed"] += 1
    outcomes = Counter(v["outcome"] for v in cases.values())
    before = [{"case": k.split("site-packages/")[-1], "message": v.get("message", "")}
              for k, v in sorted(cases.items())
              if v["outcome"] == "failed" and not v.get("predicted")]
    return {
        "suite": suite,
        "backend": 'BackendConfig("neuralnetwork", "fp32", iOS14)',
        "executor": "pytest_coremlcheck.reference.ReferenceModel (neuralnetwork fp32)",
        "collected": len(cases),
        "outcomes": dict(outcomes),
        "reached_comparison": len(reached),
        "passed": passed,
        "failed": len(reached) - passed,
        "pass_rate": round(passed / len(reached), 4) if reached else None,
        "duration_s": round(duration, 1),
        "by_file": {k: dict(v) for k, v in sorted(by_file.items())},
        "failures": failures,
        "failed_before_prediction": before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("mil", "layers", "all"), default="mil")
    parser.add_argument("-n", "--workers", default="2", help="pytest-xdist workers (0: none)")
    parser.add_argument("-k", default=None, help="pytest -k expression")
    parser.add_argument("--output", default=str(SUMMARY))
    parser.add_argument("files", nargs="*", help="restrict to these test files (by name, "
                        "e.g. test_conv.py)")
    args = parser.parse_args(argv)

    os.environ["PYMIL_TEST_TARGETS"] = "neuralnetwork"
    if args.suite in ("layers", "all"):
        os.environ["NN_CONFORMANCE_LAYER_TESTS"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    sys.path.insert(0, str(HERE))
    import pytest

    collector = _Collector()
    paths = _test_paths(args.suite)
    if args.files:
        paths = [str(Path(p) / f) if Path(p).is_dir() else p
                 for p in paths for f in args.files
                 if (Path(p).is_dir() and (Path(p) / f).exists()) or Path(p).name == f]
    pytest_args = [*paths, "-q", "-p", "no:cacheprovider", "-p",
                   "nn_conformance", "-o", "addopts=", "--tb=line", "-W", "ignore",
                   "--disable-warnings", "-rN"]
    if args.workers not in ("0", ""):
        pytest_args += ["-n", args.workers]
    if args.k:
        pytest_args += ["-k", args.k]
    start = time.perf_counter()
    pytest.main(pytest_args, plugins=[collector])
    summary = summarise(collector.cases, time.perf_counter() - start, args.suite)
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
    rate = summary["pass_rate"]
    print(f"\nNeuralNetwork conformance ({args.suite}): {summary['passed']}/"
          f"{summary['reached_comparison']} cases that reached a comparison passed "
          f"({(rate or 0) * 100:.1f}%); summary in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
