"""Keras conformance: coremltools' tf_keras op tests with predictions by the reference executor.

Runs ``converters/mil/frontend/tensorflow2/test/test_v2_ops_tf_keras.py`` from the installed
coremltools wheel, for both backends it parametrises (``("mlprogram", "fp16")`` and
``("neuralnetwork", "fp32")``; ``--precisions fp16,fp32`` adds ``("mlprogram", "fp32")``), and
writes ``conformance/tf_keras_summary.json``.

It reuses the routing of ``coremlcheck_conformance`` (``MLModel.predict`` answered by
``ReferenceModel``, macOS gates opened, one JSON record per case) and the runner and summary of
``run.py``. Loaded as a pytest plugin (``PYTEST_PLUGINS=tf_keras_conformance``) this module
also keeps the NeuralNetwork cases, which ``coremlcheck_conformance`` sets aside, because the
reference executor runs NeuralNetwork models too, and names parameters that are functions or
classes by their qualified name so every xdist worker collects the same ids. TensorFlow runs with
``TF_USE_LEGACY_KERAS=1``: the tests build Keras 2 models (``batch_input_shape``).

The pass rate is over the cases that converted and reached a numeric comparison (a prediction
was made); cases that fail before (conversion errors) are failures listed by reason outside it.

Usage::

    python conformance/tf_keras_conformance.py              # 2 workers, fp16 ML programs + NN
    python conformance/tf_keras_conformance.py -k TestDense -n 1
    python conformance/tf_keras_conformance.py --report-only
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUITE = "tf_keras"
TEST_FILE = "converters/mil/frontend/tensorflow2/test/test_v2_ops_tf_keras.py"
SUMMARY = HERE / "tf_keras_summary.json"
TARGET = 0.95
ENVIRONMENT = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTEST_PLUGINS": "tf_keras_conformance"}


# --------------------------------------------------------------------------- pytest plugin


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Undo the NeuralNetwork skip ``coremlcheck_conformance`` adds: run those cases too."""
    try:
        from coremlcheck_conformance import NN_REASON
    except ImportError:
        return
    for item in items:
        item.own_markers[:] = [m for m in item.own_markers
                               if not (m.name == "skip" and m.kwargs.get("reason") == NN_REASON)]


@pytest.hookimpl(tryfirst=True)
def pytest_make_parametrize_id(config, val, argname):
    """Stable ids for functions and classes, ``argname=module.name`` (coremltools' own id
    holds a memory address, which differs between xdist workers and breaks collection)."""
    if callable(val) and hasattr(val, "__name__"):
        name = f"{getattr(val, '__module__', '') or ''}.{val.__name__}".lstrip(".")
        return f"{argname}={name}"
    return None


# --------------------------------------------------------------------------- runner


def backend_of(nodeid: str) -> str:
    """``mlprogram-fp16``, ``mlprogram-fp32``, ``neuralnetwork-fp32`` or ``other``."""
    match = re.search(r"backend=\('(\w+)', '(\w+)'\)", nodeid)
    return f"{match.group(1)}-{match.group(2)}" if match else "other"


def _rate(counts: Counter) -> dict:
    numeric = counts["numeric"]
    return {
        "cases": counts["cases"], "passed": counts["passed"], "failed": counts["failed"],
        "skipped": counts["skipped"], "xfailed": counts["xfailed"],
        "numeric_cases": numeric, "numeric_passed": counts["numeric_passed"],
        "numeric_pass_rate": round(counts["numeric_passed"] / numeric, 5) if numeric else 0.0,
    }


def by_backend(records: list[dict]) -> dict:
    """Counts and numeric pass rate per backend."""
    groups: dict[str, Counter] = {}
    for record in records:
        counts = groups.setdefault(backend_of(record["nodeid"]), Counter())
        counts["cases"] += 1
        counts[record["outcome"]] += 1
        if record.get("predicted") and record["outcome"] in ("passed", "failed"):
            counts["numeric"] += 1
            counts[f"numeric_{record['outcome']}"] += 1
    return {name: _rate(counts) for name, counts in sorted(groups.items())}


def summarise(run, out_dir: Path, seconds: float | None) -> dict:
    records = run.load_records(out_dir / SUITE)
    if not records:
        raise SystemExit(f"no results in {out_dir / SUITE}")
    suite = run.summarise_suite(SUITE, records)
    suite["backends"] = by_backend(records)
    environment = run.environment()
    try:
        import tensorflow as tf

        environment["tensorflow"] = tf.__version__
    except ImportError:
        pass
    if seconds is not None:
        suite["duration_s"] = round(seconds, 1)
    return {"environment": environment, "test_file": TEST_FILE, "suites": {SUITE: suite}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    parser.add_argument("--precisions", default="fp16",
                        help="ML program precisions: fp16 always runs; fp16,fp32 adds fp32")
    parser.add_argument("-k", default=None, help="pytest -k expression")
    parser.add_argument("--out", type=Path, default=HERE / "work" / "run", help="scratch dir")
    parser.add_argument("--report-only", action="store_true", help="summarise the last run")
    parser.add_argument("--output", type=Path, default=SUMMARY)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))
    os.environ.update(ENVIRONMENT)
    import run

    precisions = {p.strip() for p in args.precisions.split(",")}
    run.SUITES[SUITE] = {"title": "Keras op tests (test_v2_ops_tf_keras.py, tf_keras)",
                         "paths": [TEST_FILE], "target": TARGET,
                         "precision": "any" if "fp32" in precisions else "fp16"}
    args.merge = False  # a run replaces the last results
    seconds = None
    if not args.report_only:
        started = time.time()
        run.run_suite(SUITE, args, args.out)
        seconds = time.time() - started
    summary = summarise(run, args.out, seconds)
    suite = summary["suites"][SUITE]
    print(f"[{SUITE}] {suite['cases']} cases: {suite['passed']} passed, {suite['failed']} "
          f"failed, {suite['skipped']} skipped; numeric {suite['numeric_passed']}/"
          f"{suite['numeric_cases']} = {100 * suite['numeric_pass_rate']:.2f}% "
          f"(target {100 * TARGET:.0f}%)")
    for name, counts in suite["backends"].items():
        print(f"    {name}: numeric {counts['numeric_passed']}/{counts['numeric_cases']} = "
              f"{100 * counts['numeric_pass_rate']:.2f}%")
    for row in suite["failure_reasons"][:15]:
        print(f"    {row['count']:6d}  {row['reason']}")
    if not args.k:
        args.output.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
