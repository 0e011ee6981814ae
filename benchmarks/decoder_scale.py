"""A Llama-style decoder with int4 weights on the reference executor: memory, speed, scale.

For each size (``--sizes``, from ``SIZES``): build the decoder in plain torch (random weights,
seed 0), convert it with its KV cache as Core ML state (``ct.StateType``, iOS18, one flexible
sequence length), compress every weight to int4 per block of 32 (symmetric) and save the
``.mlpackage`` — in a child process, cached under ``--cache`` by size. Then, in one fresh child
process per size, with one torch thread:

- weight bytes: the int4 data plus scales as stored in ``weights/weight.bin``;
- two weight modes: ``compressed`` (no weight cache: each weight decoded when an op reads it,
  by rows or row chunks) and ``cached`` (``COREMLCHECK_WEIGHT_CACHE_MB`` large enough to keep
  every decoded weight after its first read);
- peak RSS: resident set size (sampled every 0.5 ms) above the RSS before the Core ML model was
  loaded, while it loads and runs every prefill and decode step (the torch source is loaded
  first and sits in the baseline). The children run with ``MALLOC_MMAP_THRESHOLD_=1048576`` so
  that glibc returns freed buffers over 1 MB to the system instead of keeping them in its heap;
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
import math
import multiprocessing
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _memory import PeakSampler, rss_bytes  # noqa: E402  (benchmarks/ is on sys.path)

PROMPT = 32
STEPS = 16
ROUNDS = 3
CONTEXT = 256


@dataclass(frozen=True)
class Config:
    """Decoder shape: vocabulary, width, layers, query / key-value heads, MLP width."""

    vocab: int
    dim: int
    layers: int
    heads: int
    kv_heads: int
    hidden: int
    context: int = CONTEXT

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def parameters(self) -> int:
        """Weights: embedding, LM head, per layer q/k/v/o, gate/up/down and two norms."""
        kv = self.kv_heads * self.head_dim
        layer = 2 * self.dim * self.dim + 2 * self.dim * kv + 3 * self.dim * self.hidden
        return 2 * self.vocab * self.dim + self.layers * (layer + 2 * self.dim) + self.dim


SIZES = {
    "tiny": Config(vocab=512, dim=128, layers=2, heads=4, kv_heads=2, hidden=256),
    "125M": Config(vocab=32000, dim=768, layers=12, heads=12, kv_heads=4, hidden=2048),
    "350M": Config(vocab=32000, dim=1024, layers=24, heads=16, kv_heads=4, hidden=2816),
    "1B": Config(vocab=32000, dim=2048, layers=16, heads=32, kv_heads=8, hidden=8192),
}


def build_decoder(config: Config):
    """The torch decoder (RMSNorm, rotary, grouped-query attention, SwiGLU, KV cache buffers)."""
    import torch
    from torch import nn

    class RMSNorm(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

    class Layer(nn.Module):
        def __init__(self, index):
            super().__init__()
            c = config
            self.index = index
            self.norm1, self.norm2 = RMSNorm(c.dim), RMSNorm(c.dim)
            self.q = nn.Linear(c.dim, c.dim, bias=False)
            self.k = nn.Linear(c.dim, c.kv_heads * c.head_dim, bias=False)
            self.v = nn.Linear(c.dim, c.kv_heads * c.head_dim, bias=False)
            self.o = nn.Linear(c.dim, c.dim, bias=False)
            self.gate = nn.Linear(c.dim, c.hidden, bias=False)
            self.up = nn.Linear(c.dim, c.hidden, bias=False)
            self.down = nn.Linear(c.hidden, c.dim, bias=False)

        def attend(self, x, cos, sin, mask, caches, begin, end):
            c = config
            n = x.shape[1]
            q = self.q(x).view(1, n, c.heads, c.head_dim).transpose(1, 2)
            k = self.k(x).view(1, n, c.kv_heads, c.head_dim).transpose(1, 2)
            v = self.v(x).view(1, n, c.kv_heads, c.head_dim).transpose(1, 2)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            k_cache, v_cache = caches
            k_cache[self.index, :, :, begin:end, :] = k
            v_cache[self.index, :, :, begin:end, :] = v
            keys = k_cache[self.index, :, :, :end, :]
            values = v_cache[self.index, :, :, :end, :]
            repeat = c.heads // c.kv_heads
            keys = keys.repeat_interleave(repeat, dim=1)
            values = values.repeat_interleave(repeat, dim=1)
            scores = q @ keys.transpose(-1, -2) / math.sqrt(c.head_dim) + mask
            out = torch.softmax(scores, dim=-1) @ values
            return self.o(out.transpose(1, 2).reshape(1, n, c.dim))

        def forward(self, x, cos, sin, mask, caches, begin, end):
            x = x + self.attend(self.norm1(x), cos, sin, mask, caches, begin, end)
            h = self.norm2(x)
            return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))

    def rotate(x, cos, sin):
        half = x.shape[-1] // 2
        turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + turned * sin

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            c = config
            self.embed = nn.Embedding(c.vocab, c.dim)
            self.blocks = nn.ModuleList(Layer(i) for i in range(c.layers))
            self.norm = RMSNorm(c.dim)
            self.head = nn.Linear(c.dim, c.vocab, bias=False)
            shape = (c.layers, 1, c.kv_heads, c.context, c.head_dim)
            self.register_buffer("k_cache", torch.zeros(shape))
            self.register_buffer("v_cache", torch.zeros(shape))
            inv = 1.0 / (10000 ** (torch.arange(0, c.head_dim, 2).float() / c.head_dim))
            angles = torch.outer(torch.arange(c.context).float(), inv)
            angles = torch.cat([angles, angles], dim=-1)
            self.register_buffer("cos", angles.cos(), persistent=False)
            self.register_buffer("sin", angles.sin(), persistent=False)

        def forward(self, input_ids, causal_mask):
            n = input_ids.shape[-1]
            end = causal_mask.shape[-1]
            begin = end - n
            cos, sin = self.cos[begin:end], self.sin[begin:end]
            x = self.embed(input_ids)
            for block in self.blocks:
                x = block(x, cos, sin, causal_mask, (self.k_cache, self.v_cache), begin, end)
            return self.head(self.norm(x))

    torch.manual_seed(0)
    model = Decoder().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]) if "embed" not in name else 1.0)
    return model


def causal_mask(n: int, past: int):
    """[1, 1, n, past + n] additive mask: 0 where query i may see key j (j ≤ past + i)."""
    import torch

    mask = torch.full((n, past + n), float("-inf"))
    return torch.triu(mask, diagonal=past + 1)[None, None]


def convert(config: Config, path: str) -> None:
    """Convert the decoder (KV cache as state, flexible length) and compress it to int4."""
    import coremltools as ct
    import numpy as np
    import torch

    model = build_decoder(config)
    ids = torch.zeros(1, 4, dtype=torch.int32)
    with torch.no_grad():
        traced = torch.jit.trace(model, (ids, causal_mask(4, 0)))
    length = ct.RangeDim(1, config.context)
    total = ct.RangeDim(1, config.context)
    cache = (config.layers, 1, config.kv_heads, config.context, config.head_dim)
    mlmodel = ct.convert(
        traced,
        inputs=[ct.TensorType(name="input_ids", shape=(1, length), dtype=np.int32),
                ct.TensorType(name="causal_mask", shape=(1, 1, length, total),
                              dtype=np.float16)],
        outputs=[ct.TensorType(name="logits", dtype=np.float16)],
        states=[ct.StateType(wrapped_type=ct.TensorType(shape=cache, dtype=np.float16),
                             name="k_cache"),
                ct.StateType(wrapped_type=ct.TensorType(shape=cache, dtype=np.float16),
                             name="v_cache")],
        minimum_deployment_target=ct.target.iOS18, skip_model_load=True)
    op_config = ct.optimize.coreml.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int4", granularity="per_block", block_size=32)
    mlmodel = ct.optimize.coreml.linear_quantize_weights(
        mlmodel, ct.optimize.coreml.OptimizationConfig(global_config=op_config))
    mlmodel.save(path)
    torch.save(model.state_dict(), path + ".pt")


MODES = {"compressed": "0", "cached": "1000000"}


def measure(config: Config, path: str, mode: str, out) -> None:
    """Time and measure one converted decoder against its torch source (child process)."""
    os.environ["COREMLCHECK_WEIGHT_CACHE_MB"] = MODES[mode]
    import coremltools  # noqa: F401  (imports are not the model's memory)
    import numpy as np
    import torch
    from coremltools.converters.mil.frontend.milproto import load  # noqa: F401

    from pytest_coremlcheck.reference import ReferenceModel

    torch.set_num_threads(1)
    model = build_decoder(config)
    model.load_state_dict(torch.load(path + ".pt"))
    prompt = torch.randint(0, config.vocab, (1, PROMPT), generator=torch.Generator().manual_seed(1))

    def torch_round(times):
        model.k_cache.zero_(), model.v_cache.zero_()
        with torch.inference_mode():
            start = time.perf_counter()
            logits = model(prompt.int(), causal_mask(PROMPT, 0))
            times["prefill"].append(time.perf_counter() - start)
            token = logits[0, -1].argmax()
            for step in range(STEPS):
                start = time.perf_counter()
                logits = model(token.reshape(1, 1).int(), causal_mask(1, PROMPT + step))
                times["decode"].append(time.perf_counter() - start)
                token = logits[0, -1].argmax()

    def coreml_round(times):
        state = coreml.make_state()
        feeds = {"input_ids": prompt.int().numpy(),
                 "causal_mask": causal_mask(PROMPT, 0).numpy().astype(np.float16)}
        start = time.perf_counter()
        logits = coreml.predict(feeds, state=state)["logits"]
        times["prefill"].append(time.perf_counter() - start)
        token = int(logits[0, -1].argmax())
        for step in range(STEPS):
            feeds = {"input_ids": np.array([[token]], np.int32),
                     "causal_mask": causal_mask(1, PROMPT + step).numpy().astype(np.float16)}
            start = time.perf_counter()
            logits = coreml.predict(feeds, state=state)["logits"]
            times["decode"].append(time.perf_counter() - start)
            token = int(logits[0, -1].argmax())

    before = rss_bytes()
    with PeakSampler() as sampler:
        start = time.perf_counter()
        coreml = ReferenceModel(path)
        load = time.perf_counter() - start
        sides = {"torch": {"prefill": [], "decode": []}, "coreml": {"prefill": [], "decode": []}}
        for _ in range(ROUNDS):
            torch_round(sides["torch"])
            coreml_round(sides["coreml"])
    kv_bytes = 2 * config.layers * config.kv_heads * config.context * config.head_dim * 4
    working_set = 2 * PROMPT * config.vocab * 4 + 2 * kv_bytes
    weight_bytes = (Path(path) / "Data/com.apple.CoreML/weights/weight.bin").stat().st_size
    medians = {side: {k: statistics.median(v) for k, v in times.items()}
               for side, times in sides.items()}
    out.put({"config": asdict(config), "mode": mode, "parameters": config.parameters,
             "weight_bytes": weight_bytes, "working_set": working_set,
             "peak_rss": sampler.peak - before, "load_s": load,
             "medians": medians})


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


def convert_child(config: Config, path: str, out) -> None:
    start = time.perf_counter()
    convert(config, path)
    out.put(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,125M", help="comma-separated, from "
                        + ", ".join(SIZES))
    parser.add_argument("--modes", default="compressed,cached", help="comma-separated, from "
                        + ", ".join(MODES))
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/coremlcheck-bench"))
    args = parser.parse_args()
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "1048576"
    print("| model | weights | parameters | weight bytes (int4) | peak RSS | target | load | "
          "prefill ratio | decode ratio | tokens/s torch | tokens/s executor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        config = SIZES[size]
        path = str(Path(args.cache) / f"decoder-{size}-int4.mlpackage")
        if not Path(path + ".pt").exists():
            Path(args.cache).mkdir(parents=True, exist_ok=True)
            seconds = run_child(convert_child, config, path)
            print(f"<!-- {size}: converted and compressed in {seconds:.0f} s -->")
        for mode in args.modes.split(","):
            report(size, run_child(measure, config, path, mode))


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
