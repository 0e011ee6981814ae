"""Recurrent ops: ``lstm``, ``gru``, ``rnn``.

Shapes: ``x [T, B, I]``, states ``[B, H]`` (``[B, 2H]`` bidirectional). Direction semantics:

- ``reverse``: the sequence is processed last step first and the outputs stay in
  processing order (``output[t]`` is the state after ``t + 1`` steps); the final state is
  the last one processed.
- ``bidirectional`` (lstm): the backward outputs are aligned with the input time steps and
  concatenated after the forward ones; without ``output_sequence`` the result is
  ``[forward[-1], backward[0]]``.

Whenever a cell matches a fused torch kernel (``torch.lstm`` for sigmoid/tanh/tanh without
peepholes or clipping, ``torch.gru`` for iOS18 ``reset_after``, ``torch.rnn_tanh`` /
``torch.rnn_relu``) it runs there; otherwise a per-step loop over precomputed input
projections.
"""

from __future__ import annotations

import torch

from ..registry import register
from ._util import scalar

_ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda x: x,
    "scaled_tanh": torch.tanh,
    "hard_sigmoid": lambda x: torch.clamp(0.2 * x + 0.5, 0, 1),
    "sigmoid_hard": lambda x: torch.clamp(0.2 * x + 0.5, 0, 1),
}


def _reorder(w: torch.Tensor, order) -> torch.Tensor:
    """Gate blocks of ``w`` (stacked on axis 0) rearranged to ``order``."""
    blocks = torch.chunk(w, len(order), dim=0)
    return torch.cat([blocks[i] for i in order], dim=0)


# --------------------------------------------------------------------------- LSTM


def _lstm_fused(seq, h, c, w_ih, w_hh, bias):
    """MIL gate order [i, f, o, z] -> torch's [i, f, z, o]; ``bias`` is b_ih + b_hh."""
    order = (0, 1, 3, 2)
    params = [_reorder(w_ih, order), _reorder(w_hh, order)]
    if bias is not None:
        params += [_reorder(bias, order), torch.zeros_like(bias)]
    out, h_n, c_n = torch.lstm(seq, (h.unsqueeze(0), c.unsqueeze(0)), params, bias is not None,
                               1, 0.0, False, False, False)
    return out, h_n[0], c_n[0]


def _lstm_steps(seq, h, c, w_ih, w_hh, bias, peephole, clip, acts):
    """``i, f = σ(Wx + Rh + b + p ⊙ c_{t−1})``, ``z = g(Wx + Rh + b)``, ``c_t = f c + i z``
    (clipped to ±clip), ``o = σ(Wx + Rh + b + p_o ⊙ c_t)``, ``h_t = o ⊙ act(c_t)``."""
    rec, cell_act, act = (_ACT[a] for a in acts)
    projected = seq @ w_ih.T
    if bias is not None:
        projected = projected + bias
    p_i, p_f, p_o = torch.chunk(peephole, 3) if peephole is not None else (None, None, None)
    outs = []
    for t in range(seq.shape[0]):
        gi, gf, go, gz = torch.chunk(projected[t] + h @ w_hh.T, 4, dim=-1)
        if p_i is not None:
            gi, gf = gi + p_i * c, gf + p_f * c
        c = rec(gf) * c + rec(gi) * cell_act(gz)
        if clip is not None:
            c = torch.clamp(c, -clip, clip)
        if p_o is not None:
            go = go + p_o * c
        h = rec(go) * act(c)
        outs.append(h)
    return torch.stack(outs), h, c


@register("lstm")
def lstm(ins, node):
    """Returns (outputs ``[T or 1, B, D·H]``, final h ``[B, D·H]``, final c ``[B, D·H]``)."""
    x = ins["x"]
    direction = ins.get("direction") or "forward"
    output_sequence = bool(scalar(ins.get("output_sequence"), False))
    acts = (ins.get("recurrent_activation") or "sigmoid", ins.get("cell_activation") or "tanh",
            ins.get("activation") or "tanh")
    clip = scalar(ins.get("clip"))
    hidden = ins["weight_hh"].shape[-1]
    h0, c0 = ins["initial_h"], ins["initial_c"]
    passes = [("", direction == "reverse")]
    if direction == "bidirectional":
        passes = [("", False), ("_back", True)]
    outs, hs, cs = [], [], []
    for index, (suffix, reverse) in enumerate(passes):
        w_ih, w_hh = ins["weight_ih" + suffix], ins["weight_hh" + suffix]
        bias, peephole = ins.get("bias" + suffix), ins.get("peephole" + suffix)
        if peephole is not None and not bool(peephole.any()):
            peephole = None
        h = h0[:, index * hidden:(index + 1) * hidden]
        c = c0[:, index * hidden:(index + 1) * hidden]
        seq = torch.flip(x, [0]) if reverse else x
        if acts == ("sigmoid", "tanh", "tanh") and peephole is None and clip is None:
            out, h, c = _lstm_fused(seq, h, c, w_ih, w_hh, bias)
        else:
            out, h, c = _lstm_steps(seq, h, c, w_ih, w_hh, bias, peephole, clip, acts)
        outs.append(out)
        hs.append(h)
        cs.append(c)
    if direction == "bidirectional":
        forward, backward = outs[0], torch.flip(outs[1], [0])
        if output_sequence:
            out = torch.cat([forward, backward], -1)
        else:
            out = torch.cat([forward[-1:], backward[:1]], -1)
    else:
        out = outs[0] if output_sequence else outs[0][-1:]
    return out, torch.cat(hs, -1), torch.cat(cs, -1)


# --------------------------------------------------------------------------- GRU


def _gru_steps(seq, h, w_ih, w_hh, bias, hidden_bias, reset_after, acts):
    """MIL gates [r, o, z]: ``r, z = σ(Wx + Rh + b)``; reset before the product:
    ``o = act(W_o x + R_o (r ⊙ h) + b_o)``, or after (``reset_after``):
    ``o = act(W_o x + b_io + r ⊙ (R_o h + b_ho))``; ``h_t = (1 − z) ⊙ o + z ⊙ h``."""
    rec, act = _ACT[acts[0]], _ACT[acts[1]]
    projected = seq @ w_ih.T
    if bias is not None:
        projected = projected + bias
    w_r, w_o, w_z = torch.chunk(w_hh, 3, dim=0)
    w_rz = torch.cat([w_r, w_z], 0)
    b_hr, b_ho, b_hz = (torch.chunk(hidden_bias, 3) if hidden_bias is not None
                        else (0.0, 0.0, 0.0))
    outs = []
    for t in range(seq.shape[0]):
        x_r, x_o, x_z = torch.chunk(projected[t], 3, dim=-1)
        h_r, h_z = torch.chunk(h @ w_rz.T, 2, dim=-1)
        r = rec(x_r + h_r + b_hr)
        z = rec(x_z + h_z + b_hz)
        if reset_after:
            o = act(x_o + r * (h @ w_o.T + b_ho))
        else:
            o = act(x_o + (r * h) @ w_o.T + b_ho)
        h = (1 - z) * o + z * h
        outs.append(h)
    return torch.stack(outs), h


def _gru_fused(seq, h, w_ih, w_hh, input_bias, hidden_bias):
    """``torch.gru`` (reset after the product); MIL gate order [r, o, z] -> torch's [r, z, n]."""
    order = (0, 2, 1)
    params = [_reorder(w_ih, order), _reorder(w_hh, order)]
    has_bias = input_bias is not None or hidden_bias is not None
    if has_bias:
        zeros = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype)
        params += [_reorder(input_bias if input_bias is not None else zeros, order),
                   _reorder(hidden_bias if hidden_bias is not None else zeros, order)]
    out, h_n = torch.gru(seq, h.unsqueeze(0), params, has_bias, 1, 0.0, False, False, False)
    return out, h_n[0]


def _gru(ins, reset_after):
    x = ins["x"]
    reverse = (ins.get("direction") or "forward") == "reverse"
    output_sequence = bool(scalar(ins.get("output_sequence"), False))
    acts = (ins.get("recurrent_activation") or "sigmoid", ins.get("activation") or "tanh")
    seq = torch.flip(x, [0]) if reverse else x
    w_ih, w_hh = ins["weight_ih"], ins["weight_hh"]
    bias, input_bias = ins.get("bias"), ins.get("input_bias")
    if reset_after and acts == ("sigmoid", "tanh"):
        out, h = _gru_fused(seq, ins["initial_h"], w_ih, w_hh, input_bias, bias)
    elif reset_after:
        out, h = _gru_steps(seq, ins["initial_h"], w_ih, w_hh, input_bias, bias, True, acts)
    else:
        total = bias if input_bias is None else (input_bias if bias is None else bias + input_bias)
        out, h = _gru_steps(seq, ins["initial_h"], w_ih, w_hh, total, None, False, acts)
    return (out if output_sequence else out[-1:]), h


@register("gru", versions=("iOS15", "iOS16", "iOS17"))
def gru(ins, node):
    """Returns (outputs ``[T or 1, B, H]``, final h ``[B, H]``); reset before the product."""
    return _gru(ins, reset_after=False)


@register("gru", versions=("iOS18",))
def gru_ios18(ins, node):
    """iOS18 adds ``reset_after`` (torch's GRU) and a separate ``input_bias``."""
    return _gru(ins, reset_after=bool(scalar(ins.get("reset_after"), False)))


# --------------------------------------------------------------------------- RNN


@register("rnn")
def rnn(ins, node):
    """``h_t = act(W_ih x_t + W_hh h_{t−1} + b)``; returns (outputs, final h)."""
    x = ins["x"]
    reverse = (ins.get("direction") or "forward") == "reverse"
    output_sequence = bool(scalar(ins.get("output_sequence"), False))
    activation = ins.get("activation") or "tanh"
    seq = torch.flip(x, [0]) if reverse else x
    w_ih, w_hh, bias = ins["weight_ih"], ins["weight_hh"], ins.get("bias")
    h = ins["initial_h"]
    if activation in ("tanh", "relu"):
        params = [w_ih, w_hh] + ([bias, torch.zeros_like(bias)] if bias is not None else [])
        kernel = torch.rnn_tanh if activation == "tanh" else torch.rnn_relu
        out, h_n = kernel(seq, h.unsqueeze(0), params, bias is not None, 1, 0.0, False, False,
                          False)
        h = h_n[0]
    else:
        act = _ACT[activation]
        projected = seq @ w_ih.T + (bias if bias is not None else 0.0)
        outs = []
        for t in range(seq.shape[0]):
            h = act(projected[t] + h @ w_hh.T)
            outs.append(h)
        out = torch.stack(outs)
    return (out if output_sequence else out[-1:]), h
