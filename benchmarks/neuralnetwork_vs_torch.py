"""NeuralNetwork reference execution speed vs. the torch source.

For each example-zoo model converted with ``convert_to="neuralnetwork"`` (iOS14), in one
process: the median wall time of ``ReferenceModel.predict`` (input conversion, layer loop and
output conversion included) divided by the median of the torch source's forward on the same
values, in FP32 and in FP16 mode. The three are timed in alternating rounds after a warm-up.
The target is a ratio ≤ 1.5.

Run: ``.venv/bin/python benchmarks/neuralnetwork_vs_torch.py [--repeats N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import coremltools as ct
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import zoo  # noqa: E402

from pytest_coremlcheck.reference import ReferenceModel  # noqa: E402


def _image_case(build, convert_kwargs, out_kwargs):
    model = build()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (zoo.IMAGE_SIZE, zoo.IMAGE_SIZE, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    x = torch.from_numpy(pixels.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    kwargs = convert_kwargs(**out_kwargs)
    return model, (x,), {"image": image}, kwargs


def _tensor_case(build, convert_kwargs, x):
    model = build()
    name = convert_kwargs()["inputs"][0].name
    return model, (x,), {name: x.numpy()}, convert_kwargs()


def cases() -> dict:
    nn_target = {"minimum_deployment_target": ct.target.iOS14}
    torch.manual_seed(0)
    tokens = torch.randint(0, zoo.VOCAB, (1, zoo.SEQ_LEN), dtype=torch.int32)
    frames = torch.randn(1, 50, 20)
    return {
        "CNN classifier": lambda: _image_case(zoo.classifier, zoo.classifier_convert,
                                              nn_target),
        "style transfer": lambda: _image_case(zoo.style_transfer, zoo.style_transfer_convert,
                                              nn_target),
        "text encoder": lambda: _tensor_case(zoo.text_encoder, zoo.text_encoder_convert,
                                             tokens),
        "sequence tagger (LSTM)": lambda: _tensor_case(zoo.sequence_tagger,
                                                       zoo.sequence_tagger_convert, frames),
    }


def interleaved_medians(fns: dict, repeats: int) -> dict:
    """Median wall time (s) of each function, timed in alternating rounds after a warm-up so
    that drifts in machine load hit every function alike."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def measure(name, make, repeats: int) -> list[dict]:
    model, torch_inputs, feeds, kwargs = make()
    kwargs["minimum_deployment_target"] = ct.target.iOS14
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, torch_inputs)
        mlmodel = ct.convert(traced, convert_to="neuralnetwork", **kwargs)

    def forward():
        with torch.inference_mode():
            model(*torch_inputs)

    references = {p: ReferenceModel(mlmodel, nn_precision=p) for p in ("fp32", "fp16")}
    fns = {"torch": forward}
    fns.update({p: (lambda r=r: r.predict(feeds)) for p, r in references.items()})
    medians = interleaved_medians(fns, repeats)
    layers = len(mlmodel.get_spec().neuralNetwork.layers)
    return [{"model": name, "precision": p, "layers": layers,
             "torch_ms": medians["torch"] * 1e3, "reference_ms": medians[p] * 1e3,
             "ratio": medians[p] / medians["torch"]} for p in references]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads for both sides (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} runs\n")
    print("| model | precision | NN layers | torch forward (ms) | reference predict (ms) "
          "| ratio |")
    print("|---|---|---:|---:|---:|---:|")
    rows = []
    for name, make in cases().items():
        try:
            measured = measure(name, make, args.repeats)
        except Exception as exc:  # a model coremltools cannot convert to a NeuralNetwork
            print(f"| {name} | – | – | – | – | not convertible to neuralnetwork: "
                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]} |", flush=True)
            continue
        for row in measured:
            rows.append(row)
            print(f"| {row['model']} | {row['precision']} | {row['layers']} | "
                  f"{row['torch_ms']:.2f} | {row['reference_ms']:.2f} | {row['ratio']:.2f}× |",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    worst = max(r["ratio"] for r in rows if r["precision"] == "fp32")
    print(f"\nworst FP32 ratio: {worst:.2f}× (target ≤ 1.5×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
