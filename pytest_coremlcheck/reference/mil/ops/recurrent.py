"""Recurrent ops. LSTMs with the default activations run on torch's fused kernel."""

from __future__ import annotations

import torch

from ..registry import register
from ._util import scalar


def _ifog_to_ifgo(w):
    """MIL orders gates [input, forget, output, cell]; torch wants [input, forget, cell, output]."""
    i, f, o, g = torch.chunk(w, 4, dim=0)
    return torch.cat([i, f, g, o], dim=0)


_ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda x: x,
    "scaled_tanh": torch.tanh,
    "sigmoid_hard": lambda x: torch.clamp(0.2 * x + 0.5, 0, 1),
}


@register("lstm")
def lstm(ins, node):
    x = ins["x"]  # (T, B, I)
    direction = ins.get("direction", "forward")
    output_sequence = bool(scalar(ins.get("output_sequence"), False))
    acts = (
        ins.get("recurrent_activation", "sigmoid"),
        ins.get("cell_activation", "tanh"),
        ins.get("activation", "tanh"),
    )
    hidden = ins["weight_hh"].shape[-1]
    batch = x.shape[1]
    h0 = ins.get("initial_h")
    c0 = ins.get("initial_c")
    dirs = 2 if direction == "bidirectional" else 1
    h0 = torch.zeros(batch, hidden * dirs) if h0 is None else h0
    c0 = torch.zeros(batch, hidden * dirs) if c0 is None else c0
    passes = [("", direction == "reverse")]
    if dirs == 2:
        passes = [("", False), ("_back", True)]
    fused = acts == ("sigmoid", "tanh", "tanh") and ins.get("peephole") is None and (
        ins.get("clip") is None
    )
    outs, hs, cs = [], [], []
    for index, (suffix, reverse) in enumerate(passes):
        w_ih = ins["weight_ih" + suffix]
        w_hh = ins["weight_hh" + suffix]
        bias = ins.get("bias" + suffix)
        h = h0[:, index * hidden : (index + 1) * hidden]
        c = c0[:, index * hidden : (index + 1) * hidden]
        seq = torch.flip(x, [0]) if reverse else x
        if fused:
            out, h, c = _fused(seq, h, c, w_ih, w_hh, bias)
        else:
            out, h, c = _stepwise(seq, h, c, w_ih, w_hh, bias, ins, acts, suffix)
        outs.append(torch.flip(out, [0]) if reverse else out)
        hs.append(h)
        cs.append(c)
    out = torch.cat(outs, dim=-1)
    if not output_sequence:
        out = torch.cat([o[-1:] if not rev else o[:1] for o, (_, rev) in zip(outs, passes)], -1)
    return out, torch.cat(hs, -1), torch.cat(cs, -1)


def _fused(seq, h, c, w_ih, w_hh, bias):
    params = [_ifog_to_ifgo(w_ih), _ifog_to_ifgo(w_hh)]
    has_bias = bias is not None
    if has_bias:
        params += [_ifog_to_ifgo(bias), torch.zeros_like(bias)]
    out, h_n, c_n = torch.lstm(
        seq, (h.unsqueeze(0), c.unsqueeze(0)), params, has_bias, 1, 0.0, False, False, False
    )
    return out, h_n[0], c_n[0]


def _stepwise(seq, h, c, w_ih, w_hh, bias, ins, acts, suffix):
    """Per-timestep loop for peepholes, clipping or non-default activations."""
    rec, cell_act, act = (_ACT[a] for a in acts)
    peep = ins.get("peephole" + suffix)
    clip = scalar(ins.get("clip"))
    outs = []
    for t in range(seq.shape[0]):
        gates = seq[t] @ w_ih.T + h @ w_hh.T
        if bias is not None:
            gates = gates + bias
        gi, gf, go, gg = torch.chunk(gates, 4, dim=-1)
        if clip is not None:
            gi, gf, go, gg = (torch.clamp(g, -clip, clip) for g in (gi, gf, go, gg))
        if peep is not None:
            pi, pf, po = torch.chunk(peep, 3)
            gi, gf = gi + pi * c, gf + pf * c
        i, f, g = rec(gi), rec(gf), cell_act(gg)
        c = f * c + i * g
        if peep is not None:
            go = go + po * c
        o = rec(go)
        h = o * act(c)
        outs.append(h)
    return torch.stack(outs), h, c
