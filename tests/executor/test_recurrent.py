"""LSTM / GRU / RNN against torch.nn and the ops' formulas."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb

from .helpers import run, spec

T, B, I, H = 5, 2, 3, 4


def _ifzo_to_ifoz(w):
    i, f, z, o = np.split(w, 4)
    return np.concatenate([i, f, o, z])


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_lstm_matches_torch(rng, direction):
    torch.manual_seed(0)
    bidir = direction == "bidirectional"
    lstm = torch.nn.LSTM(I, H, bidirectional=bidir)
    sd = {k: v.detach().numpy() for k, v in lstm.state_dict().items()}
    x = rng.normal(size=(T, B, I)).astype(np.float32)
    d = 2 if bidir else 1
    h0 = rng.normal(size=(d, B, H)).astype(np.float32)
    c0 = rng.normal(size=(d, B, H)).astype(np.float32)

    def weights(suffix):
        return (_ifzo_to_ifoz(sd["weight_ih_l0" + suffix]),
                _ifzo_to_ifoz(sd["weight_hh_l0" + suffix]),
                _ifzo_to_ifoz(sd["bias_ih_l0" + suffix] + sd["bias_hh_l0" + suffix]))

    w_ih, w_hh, b = weights("")
    extra = {}
    if bidir:
        r_ih, r_hh, r_b = weights("_reverse")
        extra = {"weight_ih_back": r_ih, "weight_hh_back": r_hh, "bias_back": r_b}

    @mb.program(input_specs=[spec(T, B, I), spec(B, d * H), spec(B, d * H)],
                opset_version=ct.target.iOS17)
    def prog(x, h, c):
        return mb.lstm(x=x, initial_h=h, initial_c=c, weight_ih=w_ih, weight_hh=w_hh, bias=b,
                       direction=direction, output_sequence=True, **extra)

    def flat(states):
        return np.concatenate(list(states), axis=-1)

    out, h, c = run(prog, {"x": x, "h": flat(h0), "c": flat(c0)})
    seq = torch.from_numpy(x[::-1].copy() if direction == "reverse" else x)
    expect, (hn, cn) = lstm(seq, (torch.from_numpy(h0), torch.from_numpy(c0)))
    # reverse: outputs stay in processing order (no flip back)
    np.testing.assert_allclose(out, expect.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h, flat(hn.detach().numpy()), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, flat(cn.detach().numpy()), rtol=1e-4, atol=1e-5)


def test_lstm_peephole_clip_and_activations_stepwise(rng):
    w_ih = rng.uniform(-1, 1, size=(4 * H, I)).astype(np.float32)
    w_hh = rng.uniform(-1, 1, size=(4 * H, H)).astype(np.float32)
    b = rng.uniform(-1, 1, size=4 * H).astype(np.float32)
    p = rng.uniform(-1, 1, size=3 * H).astype(np.float32)
    x = rng.normal(size=(T, B, I)).astype(np.float32)
    clip = 0.3

    @mb.program(input_specs=[spec(T, B, I)], opset_version=ct.target.iOS17)
    def prog(x):
        zeros = np.zeros((B, H), np.float32)
        return mb.lstm(x=x, initial_h=zeros, initial_c=zeros, weight_ih=w_ih, weight_hh=w_hh,
                       bias=b, peephole=p, output_sequence=False, activation="relu",
                       clip=np.float32(clip))

    out = run(prog, {"x": x})[0]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    wi, wf, wo, wz = np.split(w_ih, 4)
    ri, rf, ro, rz = np.split(w_hh, 4)
    bi, bf, bo, bz = np.split(b, 4)
    pi, pf, po = np.split(p, 3)
    for t in range(T):
        i = sig(x[t] @ wi.T + h @ ri.T + bi + pi * c)
        f = sig(x[t] @ wf.T + h @ rf.T + bf + pf * c)
        z = np.tanh(x[t] @ wz.T + h @ rz.T + bz)
        c = np.clip(f * c + i * z, -clip, clip)
        o = sig(x[t] @ wo.T + h @ ro.T + bo + po * c)
        h = o * np.maximum(c, 0)
    np.testing.assert_allclose(out[0], h, rtol=1e-4, atol=1e-5)


def test_gru_ios15_resets_before_the_product(rng):
    w_ih = rng.uniform(-1, 1, size=(3 * H, I)).astype(np.float32)  # [r, o, z]
    w_hh = rng.uniform(-1, 1, size=(3 * H, H)).astype(np.float32)
    b = rng.uniform(-1, 1, size=3 * H).astype(np.float32)
    x = rng.normal(size=(T, B, I)).astype(np.float32)
    h0 = rng.normal(size=(B, H)).astype(np.float32)

    @mb.program(input_specs=[spec(T, B, I), spec(B, H)], opset_version=ct.target.iOS15)
    def prog(x, h):
        return mb.gru(x=x, initial_h=h, weight_ih=w_ih, weight_hh=w_hh, bias=b,
                      output_sequence=True, direction="reverse")

    out, hn = run(prog, {"x": x, "h": h0}, target="iOS15")
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    wr, wo, wz = np.split(w_ih, 3)
    rr, ro, rz = np.split(w_hh, 3)
    br, bo, bz = np.split(b, 3)
    h = h0.astype(np.float64)
    outs = []
    for xt in x[::-1]:
        r = sig(xt @ wr.T + h @ rr.T + br)
        z = sig(xt @ wz.T + h @ rz.T + bz)
        o = np.tanh(xt @ wo.T + (r * h) @ ro.T + bo)
        h = (1 - z) * o + z * h
        outs.append(h)
    np.testing.assert_allclose(out, np.stack(outs), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hn, h, rtol=1e-4, atol=1e-5)


def test_gru_ios18_reset_after_matches_torch(rng):
    torch.manual_seed(1)
    gru = torch.nn.GRU(I, H)
    sd = {k: v.detach().numpy() for k, v in gru.state_dict().items()}

    def to_mil(w):  # torch [r, z, n] -> MIL [r, o(n), z]
        r, z, n = np.split(w, 3)
        return np.concatenate([r, n, z])

    x = rng.normal(size=(T, B, I)).astype(np.float32)
    h0 = rng.normal(size=(B, H)).astype(np.float32)

    @mb.program(input_specs=[spec(T, B, I), spec(B, H)], opset_version=ct.target.iOS18)
    def prog(x, h):
        return mb.gru(x=x, initial_h=h, weight_ih=to_mil(sd["weight_ih_l0"]),
                      weight_hh=to_mil(sd["weight_hh_l0"]), input_bias=to_mil(sd["bias_ih_l0"]),
                      bias=to_mil(sd["bias_hh_l0"]), reset_after=True, output_sequence=True)

    out, hn = run(prog, {"x": x, "h": h0}, target="iOS18", empty_pipeline=True)
    expect, expect_h = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(out, expect.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hn, expect_h[0].detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_rnn(rng, activation):
    w_ih = rng.uniform(-1, 1, size=(H, I)).astype(np.float32)
    w_hh = rng.uniform(-1, 1, size=(H, H)).astype(np.float32)
    b = rng.uniform(-1, 1, size=H).astype(np.float32)
    x = rng.normal(size=(T, B, I)).astype(np.float32)

    @mb.program(input_specs=[spec(T, B, I)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.rnn(x=x, initial_h=np.zeros((B, H), np.float32), weight_ih=w_ih,
                      weight_hh=w_hh, bias=b, activation=activation, output_sequence=False)

    out, hn = run(prog, {"x": x})
    act = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
           "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[activation]
    h = np.zeros((B, H))
    for xt in x:
        h = act(xt @ w_ih.T + h @ w_hh.T + b)
    np.testing.assert_allclose(out[0], h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hn, h, rtol=1e-4, atol=1e-5)
