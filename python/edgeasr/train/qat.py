"""Quantization-aware training: the forward pass sees the weights and activations the runtime will compute with.

Weights: per output row, symmetric, ``scale = max|w_row| / qmax`` (qmax 127 for int8, 7 for int4; the max over the
kept weights when a keep-mask is given), ``q = round_half_away(w / scale)`` clamped to [-qmax, qmax], a row whose
scale would underflow stored as zeros with scale 1 -- exactly ``QuantizedMatrix.from_float`` (cpp/codec/encode.cc).
Activations: the kernels quantize every input row of a quantized matrix product to int8 at call time (per row,
symmetric, scale = max|x_row| / 127, round half away from zero; cpp/kernels/matmul.cc), so QAT does the same to the
inputs of those products: the stacked features into the input projection, each LSTM layer's input, h and cell
output, and the joiner's three inputs. Both are straight-through: the gradient of the rounding is taken as 1.

The matrices are the ones export quantizes (``export.quantized_matrix_names``), in the form export sees them: the
input projection with the feature normalization folded in (``export.folded_input_proj``), so its per-row scales and
rounding are those of the exported file. The QAT forward runs the LSTMs step by step in Python (nn.LSTM cannot take
per-step activation rounding); padding beyond an item's length never reaches its valid outputs (every piece is
causal), so the training loss needs no packing.

The regularizer ``level_penalty`` (mean of sin^2(pi w / scale)) is zero on the quantization levels and pulls each
weight to its nearest level; ``penalty_weight`` ramps its weight in over a number of steps. As a term of the loss its
pull goes through the optimizer: with Adam a weight moves by about lr x (penalty gradient / the RMS of its loss
gradient), and the penalty weight this needs grows with the square of the quantization step (int4's step is 18x
int8's); the 0.05 of the v3 recipes left their int4 weights' level penalty at 0.50, that of uniformly spread
weights (bench/results/compression_weights.png). ``pull_to_levels_`` acts on the weights instead, after each
optimizer step, as AdamW's decoupled weight decay does: each kept weight loses a fraction of its distance to its
nearest level, whatever the gradients' scale or the matrix's size. Against Adam's steps (about lr each) a weight
settles within about lr / fraction of a level, so int8's finer levels need a larger fraction than int4's.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import torch
from torch import Tensor

from edgeasr.train.evaluate import greedy_decode
from edgeasr.train.export import folded_input_proj, quantized_matrix_names, stacked_normalization
from edgeasr.train.model import Transducer, make_context

__all__ = ["QMAX", "ACTIVATION_QMAX", "quantize_rows", "fake_quantize", "fake_quantize_activations",
           "export_view", "level_penalty", "penalty_weight", "pull_to_levels_", "Quantizer", "qat_encoder",
           "qat_joiner", "qat_logits", "qat_greedy_decode"]

QMAX = {8: 127, 4: 7}
ACTIVATION_QMAX = 127
_TINY = torch.finfo(torch.float32).tiny  # the smallest normal float32: std::numeric_limits<float>::min()


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or bits not in QMAX:
        raise ValueError(f"bits: expected 8 or 4, got {bits!r}")
    return QMAX[bits]


def _round_half_away(v: Tensor) -> Tensor:
    """std::lround of float32 values: exact in float64 (|v| + 0.5 cannot round up there)."""
    d = v.double()
    return (torch.sign(d) * torch.floor(d.abs() + 0.5)).to(v.dtype)


def quantize_rows(w: Tensor, bits: int, keep: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """(q, scales): the integers [rows, cols] (as float32) and per-row float32 scales that
    ``QuantizedMatrix.from_float(w, bits, sparsity=keep)`` stores for float32 ``w``. No gradient."""
    qmax = _check_bits(bits)
    if w.ndim != 2 or w.dtype != torch.float32:
        raise ValueError(f"w: expected a float32 matrix, got {w.dtype} {tuple(w.shape)}")
    if keep is not None and keep.shape != w.shape:
        raise ValueError(f"keep: mask shape {tuple(keep.shape)} differs from w's {tuple(w.shape)}")
    w = w.detach()
    kept = w if keep is None else w * keep.to(w.dtype)
    step = kept.abs().amax(dim=1) / qmax  # float32 division, as the codec computes it
    scales = torch.where(step >= _TINY, step, torch.ones_like(step))
    q = _round_half_away(kept / scales[:, None]).clamp(-qmax, qmax)
    if keep is not None:
        q = q * keep.to(q.dtype)  # -0.0 -> 0.0 does not matter: the codec stores an integer
    return q, scales


def fake_quantize(w: Tensor, bits: int, keep: Optional[Tensor] = None) -> Tensor:
    """``w`` quantized and dequantized per row as export stores it (dropped weights exactly 0), with a
    straight-through gradient (1 for kept weights, 0 for dropped ones)."""
    q, scales = quantize_rows(w, bits, keep)
    dequantized = q * scales[:, None]
    masked = w if keep is None else w * keep.to(w.dtype)
    return masked + (dequantized - masked).detach()


def fake_quantize_activations(x: Tensor) -> Tensor:
    """Each row (last dimension) of ``x`` rounded to int8 as the kernels do before a quantized product;
    straight-through gradient."""
    xd = x.detach()
    step = xd.abs().amax(dim=-1, keepdim=True) / ACTIVATION_QMAX
    ok = step >= _TINY
    scale = torch.where(ok, step, torch.ones_like(step))
    # The kernel multiplies by 1/scale (float32) rather than dividing: the same here, for the same ties.
    inv = torch.where(ok, 1.0 / scale, torch.zeros_like(scale))
    dequantized = _round_half_away(xd * inv) * scale
    return x + (dequantized - x).detach()


def export_view(model: Transducer) -> dict[str, Tensor]:
    """The matrices export quantizes, by model-file name, as export sees them (input projection folded), float32
    and differentiable with respect to the model's parameters."""
    names = quantized_matrix_names(model.cfg)
    params = dict(model.named_parameters())
    view = {}
    for name in names:
        if name == "encoder.input_proj.weight":
            view[name] = folded_input_proj(model, grad=True)[0].float()
        else:
            view[name] = params[name]
    return view


def level_penalty(matrices: Mapping[str, Tensor], bits: int,
                  masks: Optional[Mapping[str, Tensor]] = None) -> Tensor:
    """Mean over all (kept) weights of sin^2(pi w / scale), the scale per row as export computes it (held
    constant): 0 on the quantization levels, 1 half-way between two; its gradient pulls each weight to the
    nearest level."""
    _check_bits(bits)
    total, count = None, 0
    for name, w in matrices.items():
        keep = None if masks is None else masks.get(name)
        _, scales = quantize_rows(w, bits, keep)
        term = torch.sin(math.pi * w / scales[:, None]) ** 2
        if keep is not None:
            term = term * keep.to(term.dtype)
            n = int(keep.sum())
        else:
            n = w.numel()
        total = term.sum() if total is None else total + term.sum()
        count += n
    if total is None:
        raise ValueError("matrices: nothing to regularize")
    return total / max(count, 1)


def pull_to_levels_(model: Transducer, bits: int, fraction: float,
                    masks: Optional[Mapping[str, Tensor]] = None) -> None:
    """Moves every kept weight of the quantized matrices, in place, by ``fraction`` of (s / 2 pi) sin(2 pi w / s)
    towards its nearest quantization level (s: the row's scale as export computes it). Near a level that is
    ``fraction`` of the distance to it; half-way between two levels it is 0 (no level is nearer). The row's largest
    weight lies on a level, so the scales do not move. The input projection is pulled as export sees it (feature
    normalization folded in: w / std per column), so its levels are those of the exported file."""
    _check_bits(bits)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction: expected a number in [0, 1], got {fraction!r}")
    if fraction == 0.0:
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in quantized_matrix_names(model.cfg):
            keep = None if masks is None else masks.get(name)
            folded = name == "encoder.input_proj.weight"
            w = folded_input_proj(model)[0].float() if folded else params[name]
            _, scales = quantize_rows(w, bits, keep)  # float32, as export computes them
            s, w = scales.double()[:, None], w.double()
            step = fraction * s / (2 * math.pi) * torch.sin(2 * math.pi * w / s)
            if keep is not None:
                step = step * keep.to(step.dtype)
            if folded:  # w_folded = w_raw / std: a change d of the folded weight is d * std of the raw one
                step = step * stacked_normalization(model)[1]
            params[name].sub_(step.to(params[name].dtype))


def penalty_weight(step: int, weight: float, start_step: int = 0, ramp_steps: int = 0) -> float:
    """The regularizer's weight at optimizer step ``step``: 0 before ``start_step``, then a linear ramp over
    ``ramp_steps`` steps to ``weight`` (at once when ramp_steps is 0)."""
    if step < start_step:
        return 0.0
    if ramp_steps <= 0:
        return float(weight)
    return float(weight) * min(1.0, (step - start_step + 1) / ramp_steps)


class Quantizer:
    """The effective weights of one forward pass, by model-file name: fake-quantized (``bits`` 8 or 4) or float
    (0), zero where the keep-``masks`` say so; ``activations`` also rounds the inputs of each product (with bits)."""

    def __init__(self, model: Transducer, bits: int, masks: Optional[Mapping[str, Tensor]] = None,
                 activations: bool = True):
        if bits not in (0, 4, 8) or isinstance(bits, bool):
            raise ValueError(f"bits: expected 0 (float), 4 or 8, got {bits!r}")
        self.weights = {}
        for name, w in export_view(model).items():
            keep = None if masks is None else masks.get(name)
            if bits:
                self.weights[name] = fake_quantize(w, bits, keep)
            else:
                self.weights[name] = w if keep is None else w * keep.to(w.dtype)
        self.act = fake_quantize_activations if (bits and activations) else (lambda x: x)

    def linear(self, name: str, x: Tensor) -> Tensor:
        return self.act(x) @ self.weights[name].T


def qat_encoder(model: Transducer, features: Tensor, lengths: Tensor, q: "Quantizer") -> tuple[Tensor, Tensor]:
    """The encoder as the runtime computes it with quantized weights: (enc [N, T // stack, d_model], lengths)."""
    enc = model.encoder
    n, t_in, _ = features.shape
    t_out = t_in // enc.stack
    x = features[:, : t_out * enc.stack].reshape(n, t_out, enc.stack * enc.num_features)
    _, folded_bias = folded_input_proj(model, grad=True)
    x = enc.input_norm(q.linear("encoder.input_proj.weight", x) + folded_bias.float())
    out_lengths = torch.div(lengths, enc.stack, rounding_mode="floor")
    for i, lstm in enumerate(enc.layers):
        p = f"encoder.layers.{i}."
        pre = q.linear(p + "weight_ih_l0", x) + (lstm.bias_ih_l0 + lstm.bias_hh_l0)
        h = x.new_zeros(n, enc.d_model)
        c = x.new_zeros(n, enc.hidden)
        ys = []
        for t in range(t_out):
            gi, gf, gg, go = (pre[:, t] + q.linear(p + "weight_hh_l0", h)).chunk(4, dim=-1)
            c = torch.sigmoid(gf) * c + torch.sigmoid(gi) * torch.tanh(gg)
            h = q.linear(p + "weight_hr_l0", torch.sigmoid(go) * torch.tanh(c))
            ys.append(h)
        if t_out:
            x = x + enc.dropout(torch.stack(ys, 1))
    return x, out_lengths


def qat_joiner(model: Transducer, enc: Tensor, dec: Tensor, q: "Quantizer") -> Tensor:
    """The joiner with quantized weights and activations; enc and dec broadcast as in ``Joiner.forward``."""
    j = model.joiner
    e = q.linear("joiner.enc_proj.weight", enc) + j.enc_proj.bias
    d = q.linear("joiner.dec_proj.weight", dec) + j.dec_proj.bias
    return q.linear("joiner.output.weight", torch.tanh(e + d)) + j.output.bias


def qat_logits(model: Transducer, features: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor,
               bits: int, masks: Optional[Mapping[str, Tensor]] = None,
               activations: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(logits [N, T', U+1, V], enc [N, T', d_model], enc_lengths) of the model as exported with ``bits`` (0: float
    weights) and keep-``masks`` (by model-file name); ``activations`` rounds the products' inputs as the kernels do."""
    q = Quantizer(model, bits, masks, activations)
    enc, enc_lengths = qat_encoder(model, features, lengths, q)
    dec = model.decoder(make_context(targets, target_lengths, model.cfg.context_size))
    return qat_joiner(model, enc.unsqueeze(2), dec.unsqueeze(1), q), enc, enc_lengths


class _QuantizedParts:
    """The parts of a Transducer that ``evaluate.greedy_decode`` calls, computing as the exported model does."""

    def __init__(self, model: Transducer, q: Quantizer):
        self.model, self.q = model, q
        self.cfg, self.decoder = model.cfg, model.decoder

    def eval(self) -> "_QuantizedParts":
        self.model.eval()
        return self

    def encoder(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, None]:
        return (*qat_encoder(self.model, features, lengths, self.q), None)

    def joiner(self, enc: Tensor, dec: Tensor) -> Tensor:
        return qat_joiner(self.model, enc, dec, self.q)


@torch.no_grad()
def qat_greedy_decode(model: Transducer, features: Tensor, lengths: Tensor, bits: int,
                      masks: Optional[Mapping[str, Tensor]] = None, max_symbols_per_frame: int = 1) -> list[list[int]]:
    """Greedy token ids per utterance (``evaluate.greedy_decode``) from the quantized forward; the native greedy
    search emits at most one symbol per frame, hence the default."""
    was_training = model.training
    try:
        return greedy_decode(_QuantizedParts(model, Quantizer(model, bits, masks, activations=True)), features,
                             lengths, max_symbols_per_frame)
    finally:
        model.train(was_training)
