"""Run a Core ML model on inputs from an .npz (or images) and save or print its outputs.

Uses real Core ML on macOS (--backend auto/coreml) and the reference executor elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ._common import add_backend_arguments, open_runtime, summarize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="path to an .mlpackage or .mlmodel")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--inputs", metavar="NPZ", help="input arrays (.npz); default: random")
    source.add_argument("--images", metavar="PATH", help="image file, directory or glob")
    parser.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    parser.add_argument("--out", metavar="NPZ", help="save the outputs of every sample here")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ... import images, tensors
    from ...coreml.features import describe
    from ...coreml.loading import load_model
    from ...inputs import feeds
    from ...inputs.tensors import NoRandomValueError

    loaded = load_model(args.model)
    source = (feeds(args.inputs) if args.inputs else images(args.images) if args.images
              else tensors(n=1, seed=args.seed))
    try:
        samples = source.materialize(describe(loaded.spec.description.input))
    except NoRandomValueError as exc:
        raise ValueError(exc.cli_message()) from None
    runtime = open_runtime(args, args.model, loaded)
    print(f"{loaded.name}: {runtime.platform}", file=sys.stderr)
    saved: dict[str, np.ndarray] = {}
    for index, sample in enumerate(samples):
        outputs = runtime.predict(sample.coreml)
        for name, value in outputs.items():
            print(f"[{sample.label}] {name}: {summarize(value)}")
            if not isinstance(value, (dict, str)):
                saved[f"{name}/{index}"] = np.asarray(value)
    if args.out:
        out = npz_path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, **saved)
        print(f"outputs written to {out}", file=sys.stderr)
    return 0


def npz_path(text: str) -> Path:
    """Where ``np.savez`` writes ``text``: ``.npz`` is appended to a name without it."""
    path = Path(text)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
