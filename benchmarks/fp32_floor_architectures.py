"""The adaptive FP32 default on real architectures: correct conversions pass, bugs fail.

For each model: convert to an FP32 ML program, run a check with no tolerance configured (so
the FP32 default applies: the source's float32 noise floor, measured against a float64 run of
the source, gives ``min_snr_db = min(floor − 30, 120)``), and print the floor, the limit, the
measured SNR and the verdicts under the new default, the fixed fallback (85 dB) and the former
fixed default (60 dB). Then the cost: per-sample float32 and float64 source forwards and the
one-time build of the float64 copy.

Models: hand-written torch models (a ViT block with tanh GELU and LayerNorm, a ResNet-style
CNN, an RMSNorm transformer block) and ``tf_keras.applications`` with ``weights=None`` and
random batch-norm statistics. The mis-conversions: the ViT block converted by a converter that
maps ``gelu(approximate="tanh")`` to exact GELU, and the RMSNorm block converted with eps 1e-3,
1e-4 or 1e-5 instead of 1e-6 — each by a wrong ``gelu`` / ``rms_norm`` converter registered
only while that model converts.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fp32_floor_architectures.py
[--keras NAME ...] [--samples N]`` (one thread; the torch part takes about a minute, each Keras
application one to five minutes, mostly ``ct.convert``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import coremltools as ct  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_coremlcheck import tensors  # noqa: E402
from pytest_coremlcheck.check import run_check  # noqa: E402
from pytest_coremlcheck.sources import as_source  # noqa: E402

#: ConvNeXtTiny is left out: coremltools 9 cannot convert it (TF op 'PartitionedCall').
KERAS_MODELS = ("MobileNetV2", "ResNet50", "DenseNet121", "EfficientNetB0", "InceptionV3")
FORMER_DEFAULT_DB = 60.0


# --------------------------------------------------------------------------- torch models


class Attention(nn.Module):
    """Multi-head self-attention written out (q·kᵀ/√d, softmax, ·v), batch 1."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        head = self.dim // self.heads
        q, k, v = self.qkv(x).reshape(1, -1, 3, self.heads, head).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / head ** 0.5, dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(1, -1, self.dim))


class ViTBlock(nn.Module):
    """4×4 patch embedding, two pre-norm transformer blocks (LayerNorm, attention, tanh-GELU
    MLP), mean pooling and a 10-class head. Input (1, 3, 32, 32)."""

    def __init__(self, dim: int = 64, heads: int = 4, approximate: str = "tanh"):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 4, 4)
        self.blocks = nn.ModuleList(nn.ModuleDict({
            "ln1": nn.LayerNorm(dim), "attn": Attention(dim, heads), "ln2": nn.LayerNorm(dim),
            "mlp": nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate=approximate),
                                 nn.Linear(4 * dim, dim))}) for _ in range(2))
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        for b in self.blocks:
            t = t + b["attn"](b["ln1"](t))
            t = t + b["mlp"](b["ln2"](t))
        return self.head(t.mean(1))


class RMSNormBlock(nn.Module):
    """A Llama-style block: embedding, RMSNorm (eps 1e-6), attention, RMSNorm, SiLU MLP,
    output projection. Input (1, 32, 16)."""

    def __init__(self, dim: int = 64, eps: float = 1e-6):
        super().__init__()
        self.embed = nn.Linear(16, dim)
        self.norm1, self.norm2 = nn.RMSNorm(dim, eps=eps), nn.RMSNorm(dim, eps=eps)
        self.attn = Attention(dim, 4)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.SiLU(), nn.Linear(4 * dim, dim))
        self.out = nn.Linear(dim, 16)

    def forward(self, x):
        t = self.embed(x)
        t = t + self.attn(self.norm1(t))
        return self.out(t + self.mlp(self.norm2(t)))


class ResidualCNN(nn.Module):
    """ResNet-style: stem, three residual conv-BN-ReLU stages (stride 2), pooling, head.
    Batch-norm statistics are random so that they are not the identity. Input (1, 3, 32, 32)."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.stem = _conv_bn(3, width, 1)
        self.stages = nn.ModuleList()
        for i in range(3):
            c_in, c_out = width * 2 ** max(i - 1, 0), width * 2 ** i
            self.stages.append(nn.ModuleDict({
                "a": _conv_bn(c_in, c_out, 2 if i else 1), "b": _conv_bn(c_out, c_out, 1),
                "skip": nn.Conv2d(c_in, c_out, 1, 2 if i else 1)}))
        self.head = nn.Linear(width * 4, 10)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        for s in self.stages:
            x = torch.relu(s["b"](torch.relu(s["a"](x))) + s["skip"](x))
        return self.head(x.mean((2, 3)))


def _conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out))


# --------------------------------------------------------------------------- mis-conversions


@contextlib.contextmanager
def wrong_converter(name: str, converter):
    """Register ``converter`` for the torch op ``name`` while the block runs, then restore."""
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    mapping = _TORCH_OPS_REGISTRY.name_to_func_mapping
    original = mapping[name]
    mapping[name] = converter
    try:
        yield
    finally:
        mapping[name] = original


def gelu_ignoring_approximate(context, node):
    """The bug: ``gelu(x, approximate="tanh")`` converted as exact (erf) GELU."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs

    x = _get_inputs(context, node)[0]
    context.add(mb.gelu(x=x, mode="EXACT", name=node.name))


def rms_norm_with_eps(eps: float):
    """The bug: a converter of ``rms_norm(x, shape, weight, eps)`` that uses ``eps`` whatever
    the model's eps is: ``x / sqrt(mean(x²) + eps) · weight``."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs

    def rms_norm(context, node):
        x, shape, weight, _ = _get_inputs(context, node, expected=4)
        axes = list(range(-len(shape.val), 0))
        mean_square = mb.reduce_mean(x=mb.square(x=x), axes=axes, keep_dims=True)
        normed = mb.mul(x=x, y=mb.rsqrt(x=mean_square, epsilon=eps))
        context.add(mb.mul(x=normed, y=weight, name=node.name))

    return rms_norm


def convert_torch(model: nn.Module, shape: tuple, wrong: tuple | None = None) -> ct.models.MLModel:
    """An FP32 ML program of ``model`` traced on one input of ``shape``; ``wrong`` =
    (op name, converter) is registered during the conversion only."""
    traced = torch.jit.trace(model.eval(), torch.rand(shape))
    patch = wrong_converter(*wrong) if wrong else contextlib.nullcontext()
    with patch:
        return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=shape)],
                          convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                          minimum_deployment_target=ct.target.iOS16)


def torch_cases() -> list[tuple[str, object, object, bool]]:
    """(name, source, converted model, conversion is correct) for the torch models."""
    torch.manual_seed(0)
    vit, rms, cnn = ViTBlock().eval(), RMSNormBlock().eval(), ResidualCNN().eval()
    image, tokens = (1, 3, 32, 32), (1, 32, 16)
    return [
        ("ViT block (tanh GELU, LayerNorm)", vit, convert_torch(vit, image), True),
        ("ResNet-style CNN (BN)", cnn, convert_torch(cnn, image), True),
        ("RMSNorm transformer block", rms, convert_torch(rms, tokens), True),
        ("BUG: ViT block, tanh GELU → exact GELU", vit,
         convert_torch(vit, image, ("gelu", gelu_ignoring_approximate)), False),
        *[(f"BUG: RMSNorm block, eps {eps:g} for 1e-06", rms,
           convert_torch(rms, tokens, ("rms_norm", rms_norm_with_eps(eps))), False)
          for eps in (1e-3, 1e-4, 1e-5)],
    ]


# --------------------------------------------------------------------------- Keras models


def keras_model(name: str):
    """``tf_keras.applications.<name>(weights=None)`` at a small input size (75 for
    InceptionV3, 64 otherwise), 10 classes, random batch-norm statistics (seed 0)."""
    import tf_keras

    size = 75 if name == "InceptionV3" else 64
    model = getattr(tf_keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                                 classes=10)
    rng = np.random.default_rng(0)
    draw = {"gamma": lambda s: rng.uniform(0.5, 1.5, s), "beta": lambda s: rng.normal(0, 0.1, s),
            "moving_mean": lambda s: rng.normal(0, 0.1, s),
            "moving_variance": lambda s: rng.uniform(0.5, 1.5, s)}
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            layer.set_weights([draw[w.name.split("/")[-1].split(":")[0]](w.shape)
                               for w in layer.weights])
    return model, size


def keras_case(name: str) -> tuple[str, object, object, bool]:
    model, size = keras_model(name)
    shape = (1, size, size, 3)
    # the tf_keras model, or a concrete function of it when tf.keras is Keras 3 in this process
    program = as_source(model).runner.conversion_source([np.zeros(shape, np.float32)])
    converted = ct.convert(program, source="tensorflow", inputs=[ct.TensorType(shape=shape)],
                           convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                           minimum_deployment_target=ct.target.iOS16)
    return f"{name} (Keras, {size}×{size})", model, converted, True


# --------------------------------------------------------------------------- measuring


def measure(name: str, source, converted, correct: bool, samples: int) -> dict:
    """One check with the FP32 default, plus the float32/float64 forward times."""
    src = as_source(source)
    result = run_check(src, converted, inputs=tensors(n=samples))[0]
    floor = result.noise_floor or {}
    output = next(iter(result.output_results))
    snr = result.outputs[output].snr_db
    feed = {k: v for k, v in _one_feed(converted).items()}
    order = list(feed)
    f32 = statistics.median(_time(lambda: src.run(feed, order)) for _ in range(3))
    f64 = statistics.median(_time(lambda: src.run_float64(feed, order)) for _ in range(3))
    return {
        "name": name, "correct": correct, "floor": floor.get("floors_db", {}).get(output),
        "limit": result.tolerance.for_output(output).min_snr_db, "snr": snr,
        "passed": result.passed, "fallback_passes": snr >= 85.0,
        "former_passes": snr >= FORMER_DEFAULT_DB, "used": floor.get("used"),
        "f32_ms": f32 * 1e3, "f64_ms": f64 * 1e3,
        "first_f64_s": floor.get("float64_source_s", math.nan), "source_s":
        result.timings["source_s"],
    }


def _one_feed(converted) -> dict:
    from pytest_coremlcheck.coreml.features import describe

    features = describe(converted.get_spec().description.input)
    return tensors(n=1, seed=99).materialize(features)[0].source


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _db(value) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{value:.1f}" if math.isfinite(value) else str(value)


def table(rows: list[dict]) -> str:
    lines = ["| model | floor (dB) | limit (dB) | SNR (dB) | verdict | expected | fixed 85 dB "
             "| former 60 dB | fp32 / fp64 forward (ms) | first float64 pass (s) |",
             "|---|---:|---:|---:|---|---|---|---|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['name']} | {_db(r['floor'])} | {_db(r['limit'])} | {_db(r['snr'])} | "
            f"{'pass' if r['passed'] else 'FAIL'} | {'pass' if r['correct'] else 'FAIL'} | "
            f"{'pass' if r['fallback_passes'] else 'FAIL'} | "
            f"{'pass' if r['former_passes'] else 'FAIL'} | "
            f"{r['f32_ms']:.1f} / {r['f64_ms']:.1f} | {r['first_f64_s']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras", nargs="*", default=list(KERAS_MODELS),
                        help="tf_keras.applications models to include")
    parser.add_argument("--samples", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for case in torch_cases():
        rows.append(measure(*case, samples=args.samples))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    if args.keras:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    for name in args.keras:
        rows.append(measure(*keras_case(name), samples=args.samples))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    wrong = [r["name"] for r in rows if r["passed"] != r["correct"]]
    print("\nevery verdict as expected" if not wrong else f"\nunexpected verdicts: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
