"""Train an updatable Core ML model as MLUpdateTask would and save the result as .mlmodel.

Updatable NeuralNetworks train their updatable layers with the loss, optimizer, mini-batch
size and epochs their spec declares (the reference executor's emulation); k-NN classifiers add
the samples. The training data is an .npz keyed by training input name, the first axis of every
array counting samples. Prints the loss of each epoch.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="path to an updatable .mlmodel")
    parser.add_argument("--data", required=True, metavar="NPZ",
                        help="training samples keyed by training input name (.npz)")
    parser.add_argument("--epochs", type=int, help="override the spec's epochs (must be "
                        "among its allowed values)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a hyper-parameter: learning_rate, mini_batch_size, "
                        "momentum, beta1, beta2, eps, shuffle, seed (repeatable)")
    parser.add_argument("--last-batch", choices=("keep", "drop"), default="keep",
                        help="train on the last partial mini-batch of each epoch (keep, "
                        "default) or skip it")
    parser.add_argument("--adam-eps", choices=("v_hat", "v"), default="v_hat",
                        help="where Adam adds epsilon: to sqrt(v_hat) (default, torch) or to "
                        "sqrt(v) before the bias correction (tf.keras)")
    parser.add_argument("--out", required=True, metavar="MLMODEL",
                        help="where to write the updated model (.mlmodel)")
    parser.add_argument("--json", action="store_true", help="print the run as JSON")


def run(args: argparse.Namespace) -> int:
    from ...reference import ReferenceModel

    model = ReferenceModel(args.model)

    def progress(epoch: int, loss: float) -> None:
        if not args.json:
            print(f"epoch {epoch}: loss {loss:.6g}")

    updated = model.update(args.data, epochs=args.epochs, parameters=parse_params(args.param),
                           last_batch=args.last_batch, adam_eps=args.adam_eps,
                           progress=progress)
    path = updated.save(args.out)
    run_info = updated.training_run
    if args.json:
        print(json.dumps({"model": args.model, "out": str(path),
                          "training": run_info.to_dict() if run_info else None}, indent=2))
    print(f"updated model written to {path}", file=sys.stderr)
    return 0


def parse_params(items: list[str]) -> dict:
    """``["learning_rate=0.01", "shuffle=false"]`` as typed overrides."""
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--param {item!r}: expected KEY=VALUE")
        if key == "shuffle":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"--param shuffle={text}: expected true or false")
            out[key] = text.lower() in ("true", "1")
        elif key in ("mini_batch_size", "seed", "epochs"):
            out[key] = int(text)
        else:
            out[key] = float(text)
    return out
