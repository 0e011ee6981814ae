"""Cost of the numeric-hazard watch on the default check path.

In one process, on real architectures with random weights (Keras MobileNetV2 and ResNet50,
``weights=None``, 96×96 input, converted to FP16 and FP32 ML programs), the median CPU time
of ``ReferenceModel.predict`` as a check runs it (``ReferenceRuntime`` with the watch on: the
screen) divided by plain ``predict`` (no watch), timed in interleaved rounds with one torch
thread (CPU time of this process, so that other jobs on a shared machine do not count). The
full watch (every kind, underflow included), which a failing check re-runs to
name its hazards, is timed too. Target: screen ÷ plain ≤ 1.1.

Run: ``.venv/bin/python benchmarks/hazard_watch_cost.py [--repeats 15]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import coremltools as ct  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pytest_coremlcheck.reference import ReferenceModel  # noqa: E402
from pytest_coremlcheck.runtimes.reference import ReferenceRuntime  # noqa: E402

SIZE = 96


def keras_model(name: str):
    """A keras.applications network with random weights at SIZE×SIZE."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    build = {"MobileNetV2": keras.applications.MobileNetV2,
             "ResNet50": keras.applications.ResNet50}[name]
    return build(weights=None, input_shape=(SIZE, SIZE, 3), classes=10)


def convert(model, precision, directory: Path, label: str) -> Path:
    """``model`` as an ML program package of ``precision`` (ct.precision)."""
    mlmodel = ct.convert(model, convert_to="mlprogram", compute_precision=precision,
                         minimum_deployment_target=ct.target.iOS16)
    path = directory / f"{label}.mlpackage"
    mlmodel.save(str(path))
    return path


def interleaved(fns: list, repeats: int) -> list[float]:
    """Median CPU times (s) of ``fns`` timed round-robin after one warm-up call each."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.process_time()
            fn()
            out.append(time.process_time() - start)
    return [statistics.median(t) for t in times]


def measure(path: Path, repeats: int) -> tuple[float, float, float]:
    """Median ms of plain predict, the check path (screen) and the full watch."""
    plain = ReferenceModel(str(path))
    check = ReferenceRuntime(str(path))
    full = ReferenceModel(str(path), watch_hazards=True)
    name = plain.inputs[0].name
    feed = {name: np.random.default_rng(0).uniform(0, 1, (1, SIZE, SIZE, 3)).astype(np.float32)}
    times = interleaved([lambda: plain.predict(feed), lambda: check.predict(feed),
                         lambda: full.predict(feed)], repeats)
    return tuple(t * 1e3 for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | program | plain predict (ms) | check path (ms) | ratio | full watch (ms) "
          "| ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("MobileNetV2", "ResNet50"):
            source = keras_model(name)
            for label, precision in (("fp16", ct.precision.FLOAT16),
                                     ("fp32", ct.precision.FLOAT32)):
                path = convert(source, precision, Path(tmp), f"{name}-{label}")
                plain, check, full = measure(path, args.repeats)
                print(f"| {name} {SIZE}×{SIZE} | {label} | {plain:.1f} | {check:.1f} | "
                      f"{check / plain:.2f} | {full:.1f} | {full / plain:.2f} |", flush=True)


if __name__ == "__main__":
    main()
