"""A Llama-style decoder with int4 weights on the reference executor: memory, speed, scale.

For each size (``--sizes``, from ``SIZES``): build the decoder of ``examples/llm_decoder.py``
(random weights, seed 0, context ``CONTEXT``) and save it with ``convert_decoder_variants``
as its multifunction ``int4`` package: ``prefill`` (flexible length) and ``decode`` (one
token) sharing the KV cache in Core ML states (``ct.StateType``, iOS18), every weight int4 per
block of 32 (symmetric), the program computing in ``--precision`` (fp16 by default: scales
and decoded weights fp16) — in a child process, cached under ``--cache`` by size and
precision. Then, in one fresh child process per size and weight mode, with one torch thread:

- weight bytes: the int4 data plus scales as stored in ``weights/weight.bin``;
- two weight modes: ``compressed`` (no weight cache: each weight decoded when an op reads it,
  by rows or row chunks) and ``cached`` (``COREMLCHECK_WEIGHT_CACHE_MB`` large enough to keep
  every decoded weight after its first read);
- peak RSS: the kernel's high-water mark of resident memory (``VmHWM``, reset through
  ``/proc/self/clear_refs`` just before the Core ML model loads; no sampling thread, which
  would compete for the GIL with the executor's many small ops and slow it down) above the RSS
  before the load, while it loads and runs every prefill and decode step (the torch source is
  loaded first and sits in the baseline, and so does what the executor builds once per
  process: the tiny decoder is loaded and run before, and freed); The children run with
  ``MALLOC_MMAP_THRESHOLD_=1048576`` so that glibc returns freed buffers over 1 MB to the
  system instead of keeping them in its heap;
- target: 1.5 × the weight bytes + the largest activation working set, taken as two prefill
  logits tensors (``2 · PROMPT · vocab · 4`` bytes) plus two copies of the KV cache in float32;
- prefill: median wall time of a ``PROMPT``-token prefill, reference executor / torch source;
- decode: median wall time of one decode step (one token, ``STEPS`` steps after the prompt),
  reference executor / torch source; tokens per second for both sides;
- interleaved rounds: torch and the executor alternate, prefill then every decode step.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/decoder_scale.py --sizes 125M``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from _memory import rss_bytes  # noqa: E402  (benchmarks/ is on sys.path)

PROMPT = 32
STEPS = 16
ROUNDS = 3
CONTEXT = 256


SIZES = {
    "tiny": dict(vocab=512, dim=128, layers=2, heads=4, kv_heads=2, hidden=256),
    "125M": dict(vocab=32000, dim=768, layers=12, heads=12, kv_heads=4, hidden=2048),
    "350M": dict(vocab=32000, dim=1024, layers=24, heads=16, kv_heads=4, hidden=2816),
    "1B": dict(vocab=32000, dim=2048, layers=16, heads=32, kv_heads=8, hidden=8192),
}


def build(size: str):
    """The example's torch decoder of ``size`` (seed 0), context ``CONTEXT``."""
    from llm_decoder import build_decoder

    return build_decoder(**SIZES[size], max_seq=CONTEXT)


def convert(size: str, precision: str, path: str) -> None:
    """The example's multifunction int4 package (``prefill`` + ``decode``) at ``path``, and
    the torch weights at ``path.pt``."""
    import shutil
    import tempfile

    import torch
    from llm_decoder import convert_decoder_variants

    model = build(size)
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as tmp:
        made = convert_decoder_variants(model, tmp, ("int4",), fp16=precision == "fp16")
        shutil.move(str(made["int4"]), path)
    torch.save(model.state_dict(), path + ".pt.partial")
    os.replace(path + ".pt.partial", path + ".pt")  # the marker of a finished conversion


MODES = {"compressed": "0", "cached": "1000000"}


def measure(size: str, path: str, mode: str, warm_path: str, out) -> None:
    """Time and measure one converted decoder against its torch source (child process),
    after a prefill and a decode step of the decoder at ``warm_path``."""
    os.environ["COREMLCHECK_WEIGHT_CACHE_MB"] = MODES[mode]
    import coremltools  # noqa: F401  (imports are not the model's memory)
    import numpy as np
    import torch
    from coremltools.converters.mil.frontend.milproto import load  # noqa: F401
    from llm_decoder import decoder_feeds, parameter_count

    from pytest_coremlcheck.decode import DecoderFunctions

    torch.set_num_threads(1)
    warm = DecoderFunctions(warm_path)
    warm_state = warm.models["prefill"].make_state()
    warm.models["prefill"].predict(decoder_feeds([1, 2, 3], 0), state=warm_state)
    warm.models["decode"].predict(decoder_feeds([4], 3), state=warm_state)
    del warm, warm_state
    model = build(size)
    model.load_state_dict(torch.load(path + ".pt"))
    vocab = model.config["vocab"]
    prompt = np.random.default_rng(1).integers(0, vocab, PROMPT).tolist()

    def torch_round(times):
        model.reset_cache()
        tokens, start = prompt, 0
        with torch.inference_mode():
            for phase in ["prefill"] + ["decode"] * STEPS:
                feeds = {k: torch.from_numpy(v) for k, v in decoder_feeds(tokens, start).items()}
                begin = time.perf_counter()
                logits = model(**feeds)
                times[phase].append(time.perf_counter() - begin)
                start += len(tokens)
                tokens = [int(logits[0, -1].argmax())]

    def coreml_round(times):
        state = functions.models["prefill"].make_state()
        tokens, start = prompt, 0
        for phase in ["prefill"] + ["decode"] * STEPS:
            feeds = decoder_feeds(tokens, start)
            begin = time.perf_counter()
            logits = functions.models[phase].predict(feeds, state=state)["logits"]
            times[phase].append(time.perf_counter() - begin)
            start += len(tokens)
            tokens = [int(logits[0, -1].argmax())]

    before = rss_bytes()
    reset_peak_rss()
    begin = time.perf_counter()
    functions = DecoderFunctions(path)
    load_s = time.perf_counter() - begin
    sides = {"torch": {"prefill": [], "decode": []}, "coreml": {"prefill": [], "decode": []}}
    for _ in range(ROUNDS):
        torch_round(sides["torch"])
        coreml_round(sides["coreml"])
    peak = peak_rss()
    c = model.config
    kv_bytes = 2 * c["layers"] * c["kv_heads"] * CONTEXT * (c["dim"] // c["heads"]) * 4
    working_set = 2 * PROMPT * vocab * 4 + 2 * kv_bytes
    weight_bytes = (Path(path) / "Data/com.apple.CoreML/weights/weight.bin").stat().st_size
    medians = {side: {k: statistics.median(v) for k, v in times.items()}
               for side, times in sides.items()}
    out.put({"config": c, "mode": mode, "parameters": parameter_count(model),
             "weight_bytes": weight_bytes, "working_set": working_set,
             "peak_rss": peak - before, "load_s": load_s, "medians": medians})


def reset_peak_rss() -> None:
    """Restart the kernel's record of this process's peak resident memory (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss() -> int:
    """Peak resident memory of this process since the last reset, in bytes (``VmHWM``)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_child(target, *args):
    """Run ``target(*args, queue)`` in a fresh process; its queued result, or SystemExit."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"{target.__name__}{args[1:]} failed (exit {child.exitcode})")
    return None if queue.empty() else queue.get()


def convert_child(size: str, precision: str, path: str, out) -> None:
    begin = time.perf_counter()
    convert(size, precision, path)
    out.put(time.perf_counter() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,125M", help="comma-separated, from "
                        + ", ".join(SIZES))
    parser.add_argument("--modes", default="compressed,cached", help="comma-separated, from "
                        + ", ".join(MODES))
    parser.add_argument("--precision", default="fp16", choices=("fp16", "fp32"),
                        help="the converted program's compute precision")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/coremlcheck-bench"))
    args = parser.parse_args()
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "1048576"
    print("| model | weights | parameters | weight bytes (int4) | peak RSS | target | load | "
          "prefill ratio | decode ratio | tokens/s torch | tokens/s executor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    warm_path = converted("tiny", args)
    for size in args.sizes.split(","):
        path = converted(size, args)
        for mode in args.modes.split(","):
            report(size, run_child(measure, size, path, mode, warm_path))


def converted(size: str, args) -> str:
    """The path of the ``size`` package, converted first unless it is in ``args.cache``."""
    path = str(Path(args.cache) / f"llm-decoder-{size}-{args.precision}-int4.mlpackage")
    if not Path(path + ".pt").exists():
        Path(args.cache).mkdir(parents=True, exist_ok=True)
        seconds = run_child(convert_child, size, args.precision, path)
        print(f"<!-- {size}: converted and compressed in {seconds:.0f} s -->")
    return path


def report(size: str, r: dict) -> None:
    """One table row, and the raw measurement as an HTML comment."""
    m = r["medians"]
    print(f"| {size} | {r['mode']} | {r['parameters'] / 1e6:.0f} M | "
          f"{r['weight_bytes'] / 1e6:.0f} MB | {r['peak_rss'] / 1e6:.0f} MB | "
          f"{(1.5 * r['weight_bytes'] + r['working_set']) / 1e6:.0f} MB | {r['load_s']:.1f} s | "
          f"{m['coreml']['prefill'] / m['torch']['prefill']:.2f}× | "
          f"{m['coreml']['decode'] / m['torch']['decode']:.2f}× | "
          f"{1 / m['torch']['decode']:.1f} | {1 / m['coreml']['decode']:.1f} |", flush=True)
    print("<!-- " + json.dumps(r) + " -->", flush=True)


if __name__ == "__main__":
    main()
