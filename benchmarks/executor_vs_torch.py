"""Reference executor speed vs. the torch source, and the plugin's own overhead.

For each example-zoo model, in one process: median wall time of the reference executor's
``predict`` divided by the median of the torch source's forward (same inputs, after warm-up),
for the FP32 and the FP16 program. Then the plugin overhead of a whole check: wall time minus
source inference, converted inference and conversion, as a share of the check's wall time.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/executor_vs_torch.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import coremltools as ct
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import zoo  # noqa: E402

from pytest_coremlcheck import images, tensors  # noqa: E402
from pytest_coremlcheck.check import CheckSettings, run_check  # noqa: E402
from pytest_coremlcheck.convert.on_the_fly import convert_source  # noqa: E402
from pytest_coremlcheck.coreml.features import describe  # noqa: E402
from pytest_coremlcheck.reference import ReferenceModel  # noqa: E402
from pytest_coremlcheck.sources import as_source  # noqa: E402

IMAGES = ROOT / "fixtures" / "images"
REPEATS = 30

CASES = {
    "image classifier": (zoo.classifier, zoo.classifier_convert, lambda: images(IMAGES)),
    "style transfer": (zoo.style_transfer, zoo.style_transfer_convert, lambda: images(IMAGES)),
    "text encoder": (zoo.text_encoder, zoo.text_encoder_convert,
                     lambda: tensors(n=4, high=zoo.VOCAB)),
    "sequence tagger (LSTM)": (zoo.sequence_tagger, zoo.sequence_tagger_convert,
                               lambda: tensors(n=4)),
}


def median_times(first, second, repeats: int = REPEATS) -> tuple[float, float]:
    """Median wall times (s) of two callables timed in alternation, so that load from other
    processes falls on both alike; one warm-up call each."""
    first(), second()
    times = ([], [])
    for _ in range(repeats):
        for fn, out in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def speed_row(name, build, convert_args, inputs, precision) -> tuple:
    model = build()
    source = as_source(model)
    convert = convert_args(compute_precision=precision)
    from pytest_coremlcheck.convert.on_the_fly import declared_features

    features = declared_features(convert)
    sample = inputs().materialize(features)[0]
    order = [f.name for f in features]
    mlmodel = convert_source(source, convert, sample.source, order)
    reference = ReferenceModel(mlmodel)
    names = [f.name for f in describe(mlmodel.get_spec().description.input)]
    feed = dict(zip(names, sample.coreml.values()))
    t_torch, t_ref = median_times(lambda: source.run(sample.source, order),
                                  lambda: reference.predict(feed))
    return name, reference.platform, t_torch * 1e3, t_ref * 1e3, t_ref / t_torch


def overhead_row(name, build, convert_args, inputs) -> tuple:
    runs = []
    for _ in range(3):
        result = run_check(build(), None, inputs=inputs(),
                           convert=convert_args(compute_precision=ct.precision.FLOAT32),
                           settings=CheckSettings(backend="reference"))[0]
        t = result.timings
        own = t["total_s"] - t["source_s"] - t["converted_s"] - t.get("convert_s", 0.0)
        runs.append((own / t["total_s"], t["total_s"]))
    share, total = min(runs)
    return name, total * 1e3, share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both sides (default: torch's default)")
    if (threads := parser.parse_args().threads) is not None:
        torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, coremltools {ct.__version__}, "
          f"{torch.get_num_threads()} threads, median of {REPEATS} alternating runs\n")
    print("| model | program | torch forward (ms) | reference predict (ms) | ratio |")
    print("|---|---|---:|---:|---:|")
    ratios = {"fp32": [], "fp16": []}
    for name, (build, convert_args, inputs) in CASES.items():
        for label, precision in (("fp32", ct.precision.FLOAT32), ("fp16", ct.precision.FLOAT16)):
            row = speed_row(name, build, convert_args, inputs, precision)
            ratios[label].append(row[4])
            print(f"| {row[0]} | {row[1]} | {row[2]:.2f} | {row[3]:.2f} | {row[4]:.2f} |")
    for label, values in ratios.items():
        print(f"\nmedian ratio, {label} programs: {float(np.median(values)):.2f}")
    print("\n| model | check wall time (ms) | plugin overhead share |")
    print("|---|---:|---:|")
    for name, (build, convert_args, inputs) in CASES.items():
        row = overhead_row(name, build, convert_args, inputs)
        print(f"| {row[0]} | {row[1]:.0f} | {row[2]:.1%} |")


if __name__ == "__main__":
    main()
