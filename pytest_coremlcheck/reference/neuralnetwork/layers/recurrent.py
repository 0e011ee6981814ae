"""Recurrent layers: simpleRecurrent, GRU, uniDirectionalLSTM, biDirectionalLSTM.

Input ``[Seq, Batch, I, 1, 1]``; optional initial states ``[1, Batch, H, 1, 1]`` as further
inputs (zeros when absent). Outputs: the output sequence ``[Seq, Batch, H, 1, 1]`` (or the last
step ``[1, Batch, H, 1, 1]`` without ``sequenceOutput``), then the final states. ``clip``
bounds every gate pre-activation to [−50, 50].

- simple: ``y_t = f(clip(W x_t + R y_{t−1} + b))``
- GRU: ``z = f(clip(W_z x + R_z y + b_z))``, ``r = f(clip(W_r x + R_r y + b_r))``,
  ``o = g(clip(W_o x + R_o (r ⊙ y) + b_o))``, ``y_t = (1 − z) ⊙ o + z ⊙ y_{t−1}``
- LSTM: ``i = f(clip(W_i x + R_i y + p_i ⊙ c + b_i))``, ``f = f(clip(W_f x + R_f y + p_f ⊙ c
  + b_f [+ 1 with forgetBias]))``, ``z = g(clip(W_z x + R_z y + b_z))``,
  ``c_t = f ⊙ c + i ⊙ z`` (``(1 − i) ⊙ c + i ⊙ z`` when coupled), clipped to
  ±cellClipThreshold (default 50), ``o = f(clip(W_o x + R_o y + p_o ⊙ c_t + b_o))``,
  ``y_t = o ⊙ h(c_t)``.

With ``reverseInput`` the sequence is processed from its end and the output sequence is in
processing order (its first step saw the last input). The bidirectional LSTM concatenates the
forward and backward outputs along C aligned with the input positions: step t holds
(yf_t, yb_t) where yb_t has seen x_T … x_t.
"""

from __future__ import annotations

import torch

from ..registry import register
from .activation import activation_fn

_CLIP = 50.0


def _recurrent_activation(params, ctx, part: str):
    """An activation of a recurrent layer. Kinds whose parameters are all unset take their
    standard values: linear is the identity (α = 1, β = 0), sigmoidHard uses α = 0.2,
    β = 0.5 and scaledTanh is tanh (α = β = 1)."""
    from coremltools.proto import NeuralNetwork_pb2

    kind = params.WhichOneof("NonlinearityType")
    standard = {"linear": (1.0, 0.0), "sigmoidHard": (0.2, 0.5), "scaledTanh": (1.0, 1.0)}
    if kind in standard:
        p = getattr(params, kind)
        if p.alpha == 0.0 and p.beta == 0.0:
            params = NeuralNetwork_pb2.ActivationParams()
            filled = getattr(params, kind)
            filled.alpha, filled.beta = standard[kind]
    return activation_fn(params, ctx, part)


def _acts(params_list, ctx, defaults: tuple[str, ...], part: str):
    from coremltools.proto import NeuralNetwork_pb2

    fns = []
    for i, name in enumerate(defaults):
        if i < len(params_list):
            fns.append(_recurrent_activation(params_list[i], ctx, f"{part} activation {i}"))
        else:
            p = NeuralNetwork_pb2.ActivationParams()
            getattr(p, name).SetInParent()
            fns.append(activation_fn(p, ctx, part))
    return fns


def _state(ins, index: int, batch: int, hidden: int, x: torch.Tensor) -> torch.Tensor:
    if len(ins) > index:
        return ins[index].reshape(batch, hidden)
    return x.new_zeros(batch, hidden)


def _steps(seq: int, reverse: bool):
    return range(seq - 1, -1, -1) if reverse else range(seq)


def _as_sequence(x: torch.Tensor, in_size: int) -> torch.Tensor:
    """An input blob as (Seq, Batch, I)."""
    return x.reshape(x.shape[0], -1, in_size)


def _finish(ys: list, seq_output: bool) -> torch.Tensor:
    """The output sequence (in processing order), or its last step."""
    if not seq_output:
        return ys[-1].unsqueeze(0)
    return torch.stack(ys, dim=0)


def _blob(t: torch.Tensor) -> torch.Tensor:
    """(Seq, B, H) or (B, H) as a rank-5 blob."""
    if t.dim() == 2:
        t = t.unsqueeze(0)
    return t.reshape(*t.shape, 1, 1)


@register("simpleRecurrent")
def simple_recurrent(params, ctx):
    i_size, h_size = int(params.inputVectorSize), int(params.outputVectorSize)
    w = ctx.weights(params.weightMatrix, (h_size, i_size), "weightMatrix")
    r = ctx.weights(params.recursionMatrix, (h_size, h_size), "recursionMatrix")
    b = ctx.weights(params.biasVector, (h_size,), "biasVector") if params.hasBiasVector \
        else None
    given = [params.activation] if params.HasField("activation") else []
    (f,) = _acts(given, ctx, ("tanh",), "")
    seq_out, reverse = params.sequenceOutput, params.reverseInput
    rt = r.t().contiguous()

    def run(ins):
        x = _as_sequence(ins[0], i_size)
        seq, batch = x.shape[0], x.shape[1]
        xw = torch.nn.functional.linear(x, w, b)
        h = _state(ins, 1, batch, h_size, x)
        ys = []
        for t in _steps(seq, reverse):
            h = f(torch.clamp(xw[t] + h @ rt, -_CLIP, _CLIP))
            ys.append(h)
        return [_blob(_finish(ys, seq_out)), _blob(h)]
    return run


@register("gru")
def gru(params, ctx):
    i_size, h_size = int(params.inputVectorSize), int(params.outputVectorSize)
    shape_w, shape_r = (h_size, i_size), (h_size, h_size)
    w = torch.cat([ctx.weights(params.updateGateWeightMatrix, shape_w, "updateGateWeightMatrix"),
                   ctx.weights(params.resetGateWeightMatrix, shape_w, "resetGateWeightMatrix"),
                   ctx.weights(params.outputGateWeightMatrix, shape_w,
                               "outputGateWeightMatrix")])
    r_zr = torch.cat([
        ctx.weights(params.updateGateRecursionMatrix, shape_r, "updateGateRecursionMatrix"),
        ctx.weights(params.resetGateRecursionMatrix, shape_r, "resetGateRecursionMatrix"),
    ]).t().contiguous()
    r_o = ctx.weights(params.outputGateRecursionMatrix, shape_r,
                      "outputGateRecursionMatrix").t().contiguous()
    b = None
    if params.hasBiasVectors:
        b = torch.cat([ctx.weights(params.updateGateBiasVector, (h_size,), "updateGateBiasVector"),
                       ctx.weights(params.resetGateBiasVector, (h_size,), "resetGateBiasVector"),
                       ctx.weights(params.outputGateBiasVector, (h_size,),
                                   "outputGateBiasVector")])
    f, g = _acts(params.activations, ctx, ("sigmoid", "tanh"), "")
    seq_out, reverse = params.sequenceOutput, params.reverseInput
    H = h_size

    def run(ins):
        x = _as_sequence(ins[0], i_size)
        seq, batch = x.shape[0], x.shape[1]
        xw = torch.nn.functional.linear(x, w, b)
        h = _state(ins, 1, batch, H, x)
        ys = []
        for t in _steps(seq, reverse):
            gx = xw[t]
            zr = f(torch.clamp(gx[:, :2 * H] + h @ r_zr, -_CLIP, _CLIP))
            z, r = zr[:, :H], zr[:, H:]
            o = g(torch.clamp(gx[:, 2 * H:] + (r * h) @ r_o, -_CLIP, _CLIP))
            h = (1 - z) * o + z * h
            ys.append(h)
        return [_blob(_finish(ys, seq_out)), _blob(h)]
    return run


class _LstmWeights:
    """One direction's stacked weights in gate order (i, f, z, o)."""

    def __init__(self, wp, lstm, ctx, i_size: int, h_size: int, part: str):
        sw, sr, sb = (h_size, i_size), (h_size, h_size), (h_size,)
        self.w = torch.cat([
            ctx.weights(wp.inputGateWeightMatrix, sw, f"{part}inputGateWeightMatrix"),
            ctx.weights(wp.forgetGateWeightMatrix, sw, f"{part}forgetGateWeightMatrix"),
            ctx.weights(wp.blockInputWeightMatrix, sw, f"{part}blockInputWeightMatrix"),
            ctx.weights(wp.outputGateWeightMatrix, sw, f"{part}outputGateWeightMatrix"),
        ])
        self.r = torch.cat([
            ctx.weights(wp.inputGateRecursionMatrix, sr, f"{part}inputGateRecursionMatrix"),
            ctx.weights(wp.forgetGateRecursionMatrix, sr, f"{part}forgetGateRecursionMatrix"),
            ctx.weights(wp.blockInputRecursionMatrix, sr, f"{part}blockInputRecursionMatrix"),
            ctx.weights(wp.outputGateRecursionMatrix, sr, f"{part}outputGateRecursionMatrix"),
        ]).t().contiguous()
        if lstm.hasBiasVectors:
            self.b = torch.cat([
                ctx.weights(wp.inputGateBiasVector, sb, f"{part}inputGateBiasVector"),
                ctx.weights(wp.forgetGateBiasVector, sb, f"{part}forgetGateBiasVector"),
                ctx.weights(wp.blockInputBiasVector, sb, f"{part}blockInputBiasVector"),
                ctx.weights(wp.outputGateBiasVector, sb, f"{part}outputGateBiasVector"),
            ])
        else:
            self.b = torch.zeros(4 * h_size)
        if lstm.forgetBias:
            self.b = self.b.clone()
            self.b[h_size:2 * h_size] += 1.0
        self.peep = None
        if lstm.hasPeepholeVectors:
            self.peep = (
                ctx.weights(wp.inputGatePeepholeVector, sb, f"{part}inputGatePeepholeVector"),
                ctx.weights(wp.forgetGatePeepholeVector, sb, f"{part}forgetGatePeepholeVector"),
                ctx.weights(wp.outputGatePeepholeVector, sb, f"{part}outputGatePeepholeVector"),
            )


def _is_default_lstm(acts_params, lstm, weights_list) -> bool:
    """Whether torch's fused LSTM computes exactly this layer (sigmoid/tanh/tanh, no peepholes,
    no coupled gates). Gate clipping at ±50 never changes sigmoid/tanh in float32."""
    kinds = [p.WhichOneof("NonlinearityType") for p in acts_params]
    if kinds and kinds != ["sigmoid", "tanh", "tanh"]:
        return False
    return not lstm.coupledInputAndForgetGate and all(w.peep is None for w in weights_list)


def _fused_lstm(weights_list, i_size: int, h_size: int, bidirectional: bool) -> torch.nn.LSTM:
    """A torch LSTM holding the layer's weights (gate order i, f, z=g, o in both)."""
    module = torch.nn.LSTM(i_size, h_size, bidirectional=bidirectional)
    suffixes = ["", "_reverse"] if bidirectional else [""]
    with torch.no_grad():
        for weights, suffix in zip(weights_list, suffixes):
            getattr(module, f"weight_ih_l0{suffix}").copy_(weights.w)
            getattr(module, f"weight_hh_l0{suffix}").copy_(weights.r.t())
            getattr(module, f"bias_ih_l0{suffix}").copy_(weights.b)
            getattr(module, f"bias_hh_l0{suffix}").zero_()
    return module.eval()


def _cell_clip_unreachable(c0: torch.Tensor, seq: int, threshold: float) -> bool:
    """|c_t| ≤ |c_0| + t (forget gate ≤ 1, |i·z| ≤ 1): the cell clip cannot trigger."""
    return float(c0.abs().max()) + seq <= threshold if c0.numel() else seq <= threshold


def _lstm_direction(weights: _LstmWeights, acts, lstm, h_size: int):
    """``run(x (S, B, I), h0, c0, reverse) -> (ys list, h, c)`` for one direction."""
    f, g, hact = acts
    H = h_size
    cell_clip = lstm.cellClipThreshold or 50.0
    coupled = lstm.coupledInputAndForgetGate
    peep = weights.peep

    def run(x, h, c, reverse):
        xw = torch.nn.functional.linear(x, weights.w, weights.b)
        ys = []
        for t in _steps(x.shape[0], reverse):
            gates = torch.clamp(xw[t] + h @ weights.r, -_CLIP, _CLIP)
            gi, gf, gz, go = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], \
                gates[:, 3 * H:]
            if peep is not None:
                gi = torch.clamp(gi + peep[0] * c, -_CLIP, _CLIP)
                gf = torch.clamp(gf + peep[1] * c, -_CLIP, _CLIP)
            i = f(gi)
            z = g(gz)
            if coupled:
                c = (1 - i) * c + i * z
            else:
                c = f(gf) * c + i * z
            c = torch.clamp(c, -cell_clip, cell_clip)
            if peep is not None:
                go = torch.clamp(go + peep[2] * c, -_CLIP, _CLIP)
            h = f(go) * hact(c)
            ys.append(h)
        return ys, h, c
    return run


@register("uniDirectionalLSTM")
def uni_lstm(params, ctx):
    i_size, h_size = int(params.inputVectorSize), int(params.outputVectorSize)
    lstm = params.params
    weights = _LstmWeights(params.weightParams, lstm, ctx, i_size, h_size, "")
    acts = _acts(params.activations, ctx, ("sigmoid", "tanh", "tanh"), "")
    direction = _lstm_direction(weights, acts, lstm, h_size)
    seq_out, reverse = lstm.sequenceOutput, params.reverseInput
    fused = _fused_lstm([weights], i_size, h_size, False) \
        if _is_default_lstm(params.activations, lstm, [weights]) else None
    clip = lstm.cellClipThreshold or 50.0

    def run(ins):
        x = _as_sequence(ins[0], i_size)
        batch = x.shape[1]
        h0 = _state(ins, 1, batch, h_size, x)
        c0 = _state(ins, 2, batch, h_size, x)
        if fused is not None and _cell_clip_unreachable(c0, x.shape[0], clip):
            xs = torch.flip(x, [0]) if reverse else x
            ys, (h, c) = fused(xs, (h0.unsqueeze(0), c0.unsqueeze(0)))
            if not seq_out:
                ys = ys[-1:]
            return [_blob(ys), _blob(h[0]), _blob(c[0])]
        ys, h, c = direction(x, h0, c0, reverse)
        return [_blob(_finish(ys, seq_out)), _blob(h), _blob(c)]
    return run


@register("biDirectionalLSTM")
def bi_lstm(params, ctx):
    i_size, h_size = int(params.inputVectorSize), int(params.outputVectorSize)
    lstm = params.params
    if len(params.weightParams) != 2:
        raise ctx.error(f"expected 2 weightParams (forward, backward), got "
                        f"{len(params.weightParams)}")
    fwd_w = _LstmWeights(params.weightParams[0], lstm, ctx, i_size, h_size, "forward ")
    bwd_w = _LstmWeights(params.weightParams[1], lstm, ctx, i_size, h_size, "backward ")
    fwd = _lstm_direction(
        fwd_w, _acts(params.activationsForwardLSTM, ctx, ("sigmoid", "tanh", "tanh"),
                     "forward"), lstm, h_size)
    bwd_acts = params.activationsBackwardLSTM or params.activationsForwardLSTM
    bwd = _lstm_direction(bwd_w, _acts(bwd_acts, ctx, ("sigmoid", "tanh", "tanh"), "backward"),
                          lstm, h_size)
    seq_out = lstm.sequenceOutput
    same_acts = _is_default_lstm(params.activationsForwardLSTM, lstm, [fwd_w, bwd_w]) and \
        _is_default_lstm(bwd_acts, lstm, [fwd_w, bwd_w])
    fused = _fused_lstm([fwd_w, bwd_w], i_size, h_size, True) if same_acts else None
    clip = lstm.cellClipThreshold or 50.0

    def run(ins):
        x = _as_sequence(ins[0], i_size)
        batch = x.shape[1]
        hf, cf = _state(ins, 1, batch, h_size, x), _state(ins, 2, batch, h_size, x)
        hb, cb = _state(ins, 3, batch, h_size, x), _state(ins, 4, batch, h_size, x)
        if fused is not None and _cell_clip_unreachable(torch.cat([cf, cb]), x.shape[0], clip):
            ys, (h, c) = fused(x, (torch.stack([hf, hb]), torch.stack([cf, cb])))
            if not seq_out:
                ys = torch.cat([ys[-1, :, :h_size], ys[0, :, h_size:]], dim=-1).unsqueeze(0)
            return [_blob(ys), _blob(h[0]), _blob(c[0]), _blob(h[1]), _blob(c[1])]
        ys_f, hf, cf = fwd(x, hf, cf, False)
        ys_b, hb, cb = bwd(x, hb, cb, True)
        if seq_out:
            y = torch.cat([torch.stack(ys_f), torch.stack(ys_b[::-1])], dim=-1)
        else:
            y = torch.cat([ys_f[-1], ys_b[-1]], dim=-1).unsqueeze(0)
        return [_blob(y), _blob(hf), _blob(cf), _blob(hb), _blob(cb)]
    return run
