"""A Llama-style decoder in plain torch, and its stateful multifunction Core ML conversion.

RMSNorm, rotary position embeddings, grouped-query attention and a SwiGLU MLP; the key/value
cache lives in two buffers (``k_cache``, ``v_cache``) that the conversion turns into Core ML
states (``ct.StateType``, iOS 18). Core ML states are fp16, so the cache is fp16 on both
sides: keys and values are rounded to fp16 when stored and computed in float32. Weights are
random (seeded): projections ~ N(0, 1/fan_in), so every residual branch adds unit-scale
activations, and the output head gives logits with a standard deviation of about
``logit_scale`` — peaked like a trained model's, not uniform.

Inputs follow the common Core ML LLM convention (``decoder_feeds``, which is
``pytest_coremlcheck.decode.causal_lm_feeds``): ``input_ids`` (1, seq) int32 and
``causal_mask`` (1, 1, seq, end) float32 (0 where a position may attend, -1e4 elsewhere); the
tokens are written to cache positions ``end - seq`` to ``end - 1``. ``logits`` is
(1, seq, vocab). ``convert_decoder`` saves a multifunction ``.mlpackage`` with ``prefill``
(flexible sequence length) and ``decode`` (one token) sharing the weights and the states.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pytest_coremlcheck.decode import causal_lm_feeds as decoder_feeds


def build_decoder(vocab: int = 64, dim: int = 32, layers: int = 2, heads: int = 4,
                  kv_heads: int = 2, hidden: int = 64, max_seq: int = 64, seed: int = 0,
                  logit_scale: float = 4.0) -> Decoder:
    """A seeded decoder in eval mode with an empty cache; ``dim`` must divide by ``heads``."""
    torch.manual_seed(seed)
    return Decoder(vocab, dim, layers, heads, kv_heads, hidden, max_seq, logit_scale).eval()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x²) + eps) · w over the last axis."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _linear(fan_in: int, fan_out: int, scale: float = 1.0) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out, bias=False)
    nn.init.normal_(layer.weight, std=scale / math.sqrt(fan_in))
    return layer


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Block(nn.Module):
    """x + attention(norm(x)), then + SwiGLU(norm(x)); writes its k/v into the caches."""

    def __init__(self, dim: int, heads: int, kv_heads: int, hidden: int):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.attn_norm, self.mlp_norm = RMSNorm(dim), RMSNorm(dim)
        self.q = _linear(dim, heads * self.head_dim)
        self.k = _linear(dim, kv_heads * self.head_dim)
        self.v = _linear(dim, kv_heads * self.head_dim)
        self.o = _linear(heads * self.head_dim, dim)
        self.gate, self.up = _linear(dim, hidden), _linear(dim, hidden)
        self.down = _linear(hidden, dim)

    def forward(self, x, cos, sin, mask, k_cache, v_cache, index: int, start, end):
        seq = x.shape[1]
        h = self.attn_norm(x)
        q = self.q(h).view(1, seq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(h).view(1, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(h).view(1, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k_cache[index, :, :, start:end, :] = k.half()
        v_cache[index, :, :, start:end, :] = v.half()
        keys = k_cache[index, :, :, :end, :].float()
        values = v_cache[index, :, :, :end, :].float()
        group = self.heads // self.kv_heads
        keys = keys.repeat_interleave(group, dim=1)
        values = values.repeat_interleave(group, dim=1)
        scores = q @ keys.transpose(-1, -2) / math.sqrt(self.head_dim) + mask
        attended = torch.softmax(scores, dim=-1) @ values
        x = x + self.o(attended.transpose(1, 2).reshape(1, seq, -1))
        h = self.mlp_norm(x)
        return x + self.down(torch.nn.functional.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    """Token ids + causal mask -> logits; the k/v cache persists across calls in buffers."""

    def __init__(self, vocab: int, dim: int, layers: int, heads: int, kv_heads: int,
                 hidden: int, max_seq: int, logit_scale: float = 4.0):
        super().__init__()
        if dim % heads or heads % kv_heads or (dim // heads) % 2:
            raise ValueError(f"dim {dim}, heads {heads}, kv_heads {kv_heads}: dim/heads must "
                             "be even and heads a multiple of kv_heads")
        self.config = dict(vocab=vocab, dim=dim, layers=layers, heads=heads,
                           kv_heads=kv_heads, hidden=hidden, max_seq=max_seq)
        head_dim = dim // heads
        self.embed = nn.Embedding(vocab, dim)
        nn.init.normal_(self.embed.weight, std=1.0)
        self.blocks = nn.ModuleList(Block(dim, heads, kv_heads, hidden) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.head = _linear(dim, vocab, logit_scale)
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.outer(torch.arange(max_seq).float(), inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("rope_cos", angles.cos(), persistent=False)
        self.register_buffer("rope_sin", angles.sin(), persistent=False)
        cache_shape = (layers, 1, kv_heads, max_seq, head_dim)
        self.register_buffer("k_cache", torch.zeros(cache_shape, dtype=torch.float16))
        self.register_buffer("v_cache", torch.zeros(cache_shape, dtype=torch.float16))

    @property
    def cache_shape(self) -> tuple[int, ...]:
        return tuple(self.k_cache.shape)

    def reset_cache(self) -> None:
        """Empty the k/v cache (a new sequence starts)."""
        self.k_cache.zero_()
        self.v_cache.zero_()

    def forward(self, input_ids, causal_mask):
        seq, end = input_ids.shape[-1], causal_mask.shape[-1]
        start = end - seq
        cos, sin = self.rope_cos[start:end], self.rope_sin[start:end]
        x = self.embed(input_ids)
        for index, block in enumerate(self.blocks):
            x = block(x, cos, sin, causal_mask, self.k_cache, self.v_cache, index, start, end)
        return self.head(self.norm(x))


def convert_decoder(model: Decoder, path, *, int4: bool = False, fp16: bool = False,
                    block_size: int = 32):
    """Save ``model`` as a multifunction ``.mlpackage`` at ``path`` and return the path.

    ``prefill`` takes 1…max_seq tokens, ``decode`` one; both read and write the ``k_cache`` and
    ``v_cache`` states. ``int4`` quantizes every weight of ≥ 2048 elements to int4, symmetric,
    one scale per block of ``block_size`` along the input axis; ``fp16`` computes in fp16
    (the program is FP32 otherwise). The model's cache is empty again afterwards.
    """
    variant = ("fp16" if fp16 else "fp32") + ("-int4" if int4 else "")
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        made = convert_decoder_variants(model, tmp, (variant,), fp16=fp16,
                                        block_size=block_size)
        shutil.move(str(made[variant]), str(path))
    return path


def convert_decoder_variants(model: Decoder, out_dir, variants=("fp32", "int4"), *,
                             fp16: bool = False, block_size: int = 32,
                             weight_threshold: int = 2048) -> dict[str, Path]:
    """Convert each function once and save one multifunction package per variant.

    Variants: ``"fp32"``/``"fp16"`` (the converted program; ``fp16`` picks which) and
    ``"int4"`` (that program with int4 per-block weights, ``quantize_int4``). Returns
    variant -> path (``out_dir/decoder-<variant>.mlpackage``).
    """
    import coremltools as ct

    out_dir = Path(out_dir)
    max_seq = model.config["max_seq"]
    shapes = {"prefill": ct.RangeDim(1, max_seq, default=4), "decode": 1}
    functions = {name: _convert_function(model, seq, fp16) for name, seq in shapes.items()}
    paths = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            parts = {}
            for name, mlmodel in functions.items():
                if variant == "int4":
                    mlmodel = quantize_int4(mlmodel, block_size, weight_threshold)
                parts[name] = Path(tmp) / f"{variant}-{name}.mlpackage"
                mlmodel.save(str(parts[name]))
            paths[variant] = out_dir / f"decoder-{variant}.mlpackage"
            _save_multifunction(parts, paths[variant])
    return paths


def quantize_int4(mlmodel, block_size: int = 32, weight_threshold: int = 2048):
    """int4 symmetric weights, one scale per ``block_size`` inputs, for the weights of the
    ``linear`` layers and the embedding (``gather``) of more than ``weight_threshold`` values
    (coremltools' default 2048; smaller ones stay float). Other constants, such as the rotary
    cos/sin tables, stay float: a global config would quantize them too."""
    from coremltools.optimize import coreml as cto

    op = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4",
                                     granularity="per_block", block_size=block_size,
                                     weight_threshold=weight_threshold)
    config = cto.OptimizationConfig(op_type_configs={"linear": op, "gather": op})
    return cto.linear_quantize_weights(mlmodel, config)


def _save_multifunction(parts: dict[str, Path], path: Path) -> None:
    """One package whose functions are ``parts`` (name -> single-function package);
    ``decode`` is the default function. Identical weights are stored once."""
    import coremltools as ct

    descriptor = ct.utils.MultiFunctionDescriptor()
    for function, part in parts.items():
        descriptor.add_function(str(part), src_function_name="main",
                                target_function_name=function)
    descriptor.default_function_name = "decode"
    ct.utils.save_multifunction(descriptor, str(path))


def _convert_function(model: Decoder, seq, fp16: bool):
    """One function: traced on a 3-token prompt, ``seq`` tokens (a RangeDim or 1) per call."""
    import coremltools as ct

    max_seq = model.config["max_seq"]
    example = decoder_feeds([1, 2, 3], 0)
    with torch.no_grad():
        traced = torch.jit.trace(model, (torch.from_numpy(example["input_ids"]),
                                         torch.from_numpy(example["causal_mask"])))
    model.reset_cache()
    end = ct.RangeDim(1, max_seq, default=4)
    mlmodel = ct.convert(
        traced,
        inputs=[ct.TensorType(name="input_ids", shape=(1, seq), dtype=np.int32),
                ct.TensorType(name="causal_mask", shape=(1, 1, seq, end), dtype=np.float32)],
        outputs=[ct.TensorType(name="logits", dtype=np.float32)],
        states=[ct.StateType(wrapped_type=ct.TensorType(shape=model.cache_shape,
                                                        dtype=np.float16), name=name)
                for name in ("k_cache", "v_cache")],
        minimum_deployment_target=ct.target.iOS18,
        compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32,
        skip_model_load=True,
    )
    model.reset_cache()
    return mlmodel
