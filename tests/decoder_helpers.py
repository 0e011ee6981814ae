"""Independent expectations for decode-loop tests: greedy tokens without a cache, and a
torch copy holding a package's int4 weights dequantized in numpy."""

from __future__ import annotations

import copy

import numpy as np
import torch

from pytest_coremlcheck.decode import causal_lm_feeds


def greedy_without_cache(model, prompt, count):
    """Greedy tokens of ``model`` re-computing the whole sequence each time (fresh cache)."""
    tokens = list(prompt)
    for _ in range(count):
        model.reset_cache()
        feeds = causal_lm_feeds(tokens, 0)
        with torch.no_grad():
            logits = model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
        tokens.append(int(logits[0, -1].argmax()))
    model.reset_cache()
    return tokens[len(prompt):]


def dequantized_copy(decoder, package):
    """(A copy of ``decoder`` holding the int4 package's weights, dequantized in numpy from the
    stored int4 values and scales: w = (data − offset) · scale, one scale per block; the
    names of the parameters replaced)."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    mlmodel = ct.models.MLModel(str(package), skip_model_load=True)
    spec = mlmodel.get_spec()
    program = load_milproto(spec, spec.specificationVersion, mlmodel.weights_dir)
    copied = copy.deepcopy(decoder)
    params = {name.replace(".", "_"): p for name, p in copied.named_parameters()}
    replaced = set()
    for op in program.functions["decode"].operations:
        if op.op_type != "constexpr_blockwise_shift_scale":
            continue
        data = op.data.val.astype(np.float64)
        if op.offset is not None:
            data = data - op.offset.val
        scale = op.scale.val.astype(np.float64)
        for axis in range(data.ndim):
            scale = np.repeat(scale, data.shape[axis] // scale.shape[axis], axis=axis)
        keys = [k for k in params if op.outputs[0].name.startswith(k)]
        assert keys, f"int4 constant {op.outputs[0].name!r} is no parameter of the decoder"
        key = max(keys, key=len)
        with torch.no_grad():
            params[key].copy_(torch.from_numpy(data * scale))
        replaced.add(key)
    return copied, replaced
