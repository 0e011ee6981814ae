"""Reference executor model load time and peak memory during predict, for a 25M-parameter model.

The model: an MLP of four 2,500×2,500 linear layers (25.0M float32 parameters, 100 MB of
weights) converted to an FP32 ML program in a child process, so this process starts clean.
In this process:

- load time: wall time of ``ReferenceModel(path)`` (spec parse + weight decode), median of 3;
- load memory: peak resident set size during the first ``ReferenceModel(path)`` above the RSS
  before it, divided by the weight bytes. Target ≤ 1.5;
- memory: resident set size (``/proc/self/statm``, sampled every 0.5 ms by a thread) during
  ``predict``, above the RSS before the model was loaded, divided by the decoded weights plus
  the largest pair of activations (one op's input and output). Target ≤ 2.5.

Linux only (reads /proc). Run: ``.venv/bin/python benchmarks/executor_load_memory.py``.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from _memory import PeakSampler, rss_bytes  # noqa: E402  (benchmarks/ is on sys.path)

WIDTH = 2500
LAYERS = 4
BATCH = 64


def build_model(path: str) -> None:
    """Convert the MLP to an FP32 ML program at ``path`` (run in a child process)."""
    import coremltools as ct
    import torch

    torch.manual_seed(0)
    layers = []
    for _ in range(LAYERS):
        layers += [torch.nn.Linear(WIDTH, WIDTH), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers).eval()
    example = torch.zeros(BATCH, WIDTH)
    traced = torch.jit.trace(model, example)
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=example.shape)],
                         convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                         minimum_deployment_target=ct.target.iOS16)
    mlmodel.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "mlp.mlpackage")
        child = multiprocessing.get_context("spawn").Process(target=build_model, args=(path,))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"building {path} failed (exit {child.exitcode})")

        import coremltools  # noqa: F401  (its import, TensorFlow's included, is not the model's)
        import numpy as np
        import torch
        from coremltools.converters.mil.frontend.milproto import load  # noqa: F401

        from pytest_coremlcheck.reference import ReferenceModel

        if args.threads:
            torch.set_num_threads(args.threads)
        feed = {"x": np.random.default_rng(0).normal(size=(BATCH, WIDTH)).astype(np.float32)}
        gc.collect()
        before = rss_bytes()
        with PeakSampler() as loading:
            model = ReferenceModel(path)
        model.predict(feed)  # warm-up
        with PeakSampler() as sampler:
            model.predict(feed)
        del model
        gc.collect()
        loads = []
        for _ in range(3):
            start = time.perf_counter()
            ReferenceModel(path)
            loads.append(time.perf_counter() - start)
            gc.collect()
        weights = LAYERS * (WIDTH * WIDTH + WIDTH) * 4
        activation_pair = 2 * BATCH * WIDTH * 4
        used = sampler.peak - before
        print(f"model: {LAYERS}x Linear({WIDTH}, {WIDTH}), {weights / 4e6:.1f}M parameters, "
              f"FP32 ML program, batch {BATCH}; torch {torch.get_num_threads()} threads")
        print("| measure | value | target |")
        print("|---|---:|---:|")
        print(f"| load (spec parse + weight decode), median of 3 | "
              f"{statistics.median(loads):.2f} s | ≤ 2 s |")
        load_peak = loading.peak - before
        print(f"| peak RSS during load above RSS before load | {load_peak / 1e6:.0f} MB "
              f"({load_peak / weights:.2f}× the weights) | ≤ 1.5× |")
        print(f"| peak RSS during predict above RSS before load | {used / 1e6:.0f} MB | |")
        print(f"| decoded weights + largest activation pair | "
              f"{(weights + activation_pair) / 1e6:.0f} MB | |")
        print(f"| ratio | {used / (weights + activation_pair):.2f} | ≤ 2.5 |")


if __name__ == "__main__":
    main()
