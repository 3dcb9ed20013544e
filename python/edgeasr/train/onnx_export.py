"""Our trained transducer in sherpa-onnx's streaming LSTM-transducer format, so sherpa-onnx runs the same weights.

What sherpa-onnx expects of an online transducer with metadata ``model_type=lstm`` (its
csrc/online-lstm-transducer-model.cc, online-transducer-model.cc, online-recognizer-transducer-impl.h and
online-transducer-greedy-search-decoder.cc; icefall's lstm_transducer_stateless2/export-onnx.py writes such files):

    encoder.onnx  x [N, T, 80], h [L, N, d_model], c [L, N, hidden], by position (no lengths)
                  -> encoder_out [N, T/4, joiner_dim], next h, next c
                  metadata model_type=lstm, T, decode_chunk_len, num_encoder_layers, d_model, rnn_hidden_size
    decoder.onnx  y [N, context_size] int64, oldest token first; a stream starts from [-1, 0] (-1: nothing yet)
                  -> decoder_out [N, joiner_dim]; metadata vocab_size, context_size
    joiner.onnx   encoder_out [N, joiner_dim], decoder_out [N, joiner_dim] -> logit [N, vocab_size]
    tokens.txt    "piece id" per line, blank "<blk>" at id 0

The joiner's projections are folded into the encoder and decoder outputs (sherpa-onnx adds the two and runs the
joiner per frame). sherpa-onnx hands the encoder T frames per call, then moves on by decode_chunk_len; our encoder
has no right context, so both are the chunk length, and chunk after chunk is exactly our streaming encoder. The
feature normalization (Encoder.feature_mean/std) is folded into the input projection.

The graphs are written with onnx.helper rather than torch.onnx: ONNX's LSTM has no projection and torch.onnx refuses
``nn.LSTM(proj_size=...)``, so each chunk's steps are unrolled (T / stack of them) as plain MatMuls.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from edgeasr.features import FbankConfig
from edgeasr.tokens import TokenTable
from edgeasr.train.export import folded_input_proj, load_trained
from edgeasr.train.model import BLANK, Transducer

__all__ = ["SherpaOnnxFiles", "export_sherpa_onnx", "sherpa_feature_kwargs", "DEFAULT_CHUNK_FRAMES"]

# Feature frames (10 ms) per encoder call: 160 ms, 4 encoder steps. sherpa-onnx decodes a chunk once one more
# frame than the chunk is ready, so this plus 10 ms is the added latency.
DEFAULT_CHUNK_FRAMES = 16
OPSET = 17          # LayerNormalization
IR_VERSION = 8      # what opset 17 needs; older runtimes (sherpa-onnx bundles its own) reject newer IR versions


@dataclass(frozen=True)
class SherpaOnnxFiles:
    """One exported model: the arguments ``sherpa_onnx.OnlineRecognizer.from_transducer`` takes for files."""

    tokens: Path
    encoder: Path
    decoder: Path
    joiner: Path

    def recognizer_kwargs(self, fbank: FbankConfig = FbankConfig()) -> dict:
        """Keyword arguments for ``OnlineRecognizer.from_transducer``: these files and our features."""
        return {"tokens": str(self.tokens), "encoder": str(self.encoder), "decoder": str(self.decoder),
                "joiner": str(self.joiner), **sherpa_feature_kwargs(fbank)}


def sherpa_feature_kwargs(fbank: FbankConfig = FbankConfig()) -> dict:
    """The ``from_transducer`` feature options that make sherpa-onnx compute the features our model was trained on.

    sherpa-onnx's defaults differ from ours in two ways: ``snip_edges=False`` (the audio's edges are padded by
    reflection and frame i is centred on sample (i + 1/2) * shift, so there are two or three frames more and each
    starts (window - shift) / 2 = 7.5 ms earlier) and ``high_freq=-400`` (the top mel bin ends 400 Hz below
    Nyquist, at 7600 Hz; ours end at Nyquist). Both take float samples in [-1, 1] (``normalize_samples=True``;
    False would scale them by 32768 first), dither 0, a 20 Hz low edge and Kaldi's other defaults.
    """
    fbank.validate()
    return {"sample_rate": fbank.sample_rate, "feature_dim": fbank.num_bins, "low_freq": fbank.low_freq_hz,
            "high_freq": fbank.high_freq_hz, "dither": fbank.dither, "snip_edges": fbank.snip_edges,
            "normalize_samples": True}


def export_sherpa_onnx(checkpoint_or_model: Union[str, os.PathLike, Transducer], out_dir: Union[str, os.PathLike],
                       int8: bool = False, *, tokens: TokenTable | None = None,
                       chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> dict[str, SherpaOnnxFiles]:
    """Write encoder.onnx, decoder.onnx, joiner.onnx and tokens.txt to ``out_dir`` (and the ``.int8.onnx``
    variants if ``int8``); returns the files by precision, ``{"fp32": ...}`` plus ``"int8"`` if asked for.

    ``checkpoint_or_model`` is a training checkpoint (``torch.load`` dict with "model", "config" and "tokens"), a
    file from ``edgeasr.train.export`` (``.safetensors``), or a Transducer, which then needs ``tokens``.
    ``chunk_frames`` is the number of feature frames per encoder call, a multiple of the model's ``stack``.
    """
    model, table = _load(checkpoint_or_model, tokens)
    cfg = model.cfg
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < cfg.stack \
            or chunk_frames % cfg.stack:
        raise ValueError(f"chunk_frames: must be a positive multiple of the model's stack ({cfg.stack}), "
                         f"got {chunk_frames!r}")
    if len(table) != cfg.vocab_size:
        raise ValueError(f"tokens: {len(table)} pieces for a model with vocab_size {cfg.vocab_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    with torch.no_grad():
        graphs = {"encoder": _encoder_model(model, chunk_frames), "decoder": _decoder_model(model),
                  "joiner": _joiner_model(model)}
    table.write_tokens_txt(out / "tokens.txt")
    files = {}
    for name, proto in graphs.items():
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, out / f"{name}.onnx")
    files["fp32"] = SherpaOnnxFiles(out / "tokens.txt", out / "encoder.onnx", out / "decoder.onnx", out / "joiner.onnx")
    if int8:
        for name in graphs:
            _quantize(out / f"{name}.onnx", out / f"{name}.int8.onnx")
        files["int8"] = SherpaOnnxFiles(out / "tokens.txt", out / "encoder.int8.onnx", out / "decoder.int8.onnx",
                                        out / "joiner.int8.onnx")
    return files


# ---- loading

def _load(source, tokens: TokenTable | None) -> tuple[Transducer, TokenTable]:
    if isinstance(source, Transducer):
        if not isinstance(tokens, TokenTable):
            raise ValueError("tokens: a TokenTable is required with a Transducer (a checkpoint carries its own)")
        return source.eval(), tokens
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"checkpoint_or_model: expected a path or a Transducer, got {type(source).__name__}")
    if tokens is not None:
        raise ValueError("tokens: only with a Transducer; a checkpoint carries its own token table")
    return load_trained(source)


# ---- graph building

class _Graph:
    """Nodes and initializers of one ONNX graph, with generated value names."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, value, dtype=np.float32, name: str = "const") -> str:
        name = self._name(name)
        # np.array, not np.ascontiguousarray: that makes a scalar index 1-D, and Gather would keep the axis.
        self.initializers.append(numpy_helper.from_array(np.array(value, dtype=dtype, order="C"), name))
        return name

    def weight(self, tensor: torch.Tensor, name: str) -> str:
        return self.const(tensor.detach().cpu().double().numpy(), name=name)

    def op(self, op_type: str, *inputs: str, outputs: int = 1, name: str | None = None, **attrs):
        outs = [name] if name is not None else [self._name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self._name(op_type), **attrs))
        return outs[0] if outputs == 1 else outs

    def linear(self, x: str, weight: torch.Tensor, bias: torch.Tensor, name: str, out: str | None = None) -> str:
        """x @ weight.T + bias, weight [out, in] as nn.Linear keeps it (a MatMul, which quantize_dynamic quantizes)."""
        y = self.op("MatMul", x, self.weight(weight.T, f"{name}.weight_t"))
        return self.op("Add", y, self.weight(bias, f"{name}.bias"), name=out)

    def model(self, name: str, inputs: list, outputs: list, metadata: dict[str, object]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                                  producer_name="edgeasr")
        helper.set_model_props(proto, {k: str(v) for k, v in metadata.items()})
        return proto


def _encoder_model(model: Transducer, chunk_frames: int) -> onnx.ModelProto:
    cfg, enc = model.cfg, model.encoder
    steps, n_layers, hidden = chunk_frames // cfg.stack, len(enc.layers), cfg.hidden
    g = _Graph()
    x = g.op("Reshape", "x", g.const([-1, steps, cfg.stack * cfg.num_features], np.int64))
    weight, bias = folded_input_proj(model)             # the feature normalization folded in
    x = g.linear(x, weight, bias, "input_proj")
    x = g.op("LayerNormalization", x, g.weight(enc.input_norm.weight, "input_norm.weight"),
             g.weight(enc.input_norm.bias, "input_norm.bias"), axis=-1, epsilon=float(enc.input_norm.eps))
    gate_sizes = g.const([hidden] * 4, np.int64)
    axis0, axis1 = g.const([0], np.int64), g.const([1], np.int64)
    step_index = [g.const(t, np.int64) for t in range(steps)]
    next_h, next_c = [], []
    for i, lstm in enumerate(enc.layers):
        layer = g.const(i, np.int64)
        h = g.op("Gather", "h", layer, axis=0)                                  # [N, d_model]
        c = g.op("Gather", "c", layer, axis=0)                                  # [N, hidden]
        # The input's share of the gates for every step at once; both biases go here.
        x_gates = g.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0, f"layers.{i}.ih")
        w_hh = g.weight(lstm.weight_hh_l0.T, f"layers.{i}.hh.weight_t")     # shared by the unrolled steps
        w_hr = g.weight(lstm.weight_hr_l0.T, f"layers.{i}.hr.weight_t")
        ys = []
        for t in range(steps):
            gates = g.op("Add", g.op("Gather", x_gates, step_index[t], axis=1), g.op("MatMul", h, w_hh))
            in_gate, forget, cell, out_gate = g.op("Split", gates, gate_sizes, outputs=4, axis=1)  # torch's order
            c = g.op("Add", g.op("Mul", g.op("Sigmoid", forget), c),
                     g.op("Mul", g.op("Sigmoid", in_gate), g.op("Tanh", cell)))
            h = g.op("MatMul", g.op("Mul", g.op("Sigmoid", out_gate), g.op("Tanh", c)), w_hr)
            ys.append(g.op("Unsqueeze", h, axis1))
        x = g.op("Add", x, g.op("Concat", *ys, axis=1))
        next_h.append(g.op("Unsqueeze", h, axis0))
        next_c.append(g.op("Unsqueeze", c, axis0))
    joiner = model.joiner
    g.linear(x, joiner.enc_proj.weight, joiner.enc_proj.bias, "joiner.enc_proj", out="encoder_out")
    g.op("Concat", *next_h, axis=0, name="next_h")
    g.op("Concat", *next_c, axis=0, name="next_c")
    f32 = TensorProto.FLOAT
    return g.model(
        "edgeasr_encoder",
        [helper.make_tensor_value_info("x", f32, ["N", chunk_frames, cfg.num_features]),
         helper.make_tensor_value_info("h", f32, [n_layers, "N", cfg.d_model]),
         helper.make_tensor_value_info("c", f32, [n_layers, "N", hidden])],
        [helper.make_tensor_value_info("encoder_out", f32, ["N", steps, cfg.joiner_dim]),
         helper.make_tensor_value_info("next_h", f32, [n_layers, "N", cfg.d_model]),
         helper.make_tensor_value_info("next_c", f32, [n_layers, "N", hidden])],
        {"model_type": "lstm", "version": 1, "model_author": "edgeasr", "decode_chunk_len": chunk_frames,
         "T": chunk_frames, "num_encoder_layers": n_layers, "d_model": cfg.d_model, "rnn_hidden_size": hidden,
         # Not read by sherpa-onnx (it assumes 4 for timestamps): for people and tools reading the file.
         "subsampling_factor": cfg.stack,
         "edgeasr_features": json.dumps(sherpa_feature_kwargs())})  # the training features, as from_transducer options


def _decoder_model(model: Transducer) -> onnx.ModelProto:
    cfg, dec = model.cfg, model.decoder
    g = _Graph()
    # sherpa-onnx (like icefall) starts a stream's context as [-1, ..., -1, blank]: -1 is "before the start", which
    # our model was trained to see as a blank (make_context), so negative ids become blanks rather than index
    # the embedding from its end.
    y = g.op("Max", "y", g.const(BLANK, np.int64))
    emb = g.op("Gather", g.weight(dec.embedding.weight, "embedding.weight"), y, axis=0)     # [N, K, D]
    # The depthwise conv over the whole context: out[n, d] = sum_k emb[n, k, d] * w[d, 0, k] + b[d].
    taps = g.weight(dec.conv.weight[:, 0, :].T, "conv.weight_t")                            # [K, D]
    mixed = g.op("ReduceSum", g.op("Mul", emb, taps), g.const([1], np.int64), keepdims=0)
    hidden = g.op("Relu", g.op("Add", mixed, g.weight(dec.conv.bias, "conv.bias")))
    g.linear(hidden, model.joiner.dec_proj.weight, model.joiner.dec_proj.bias, "joiner.dec_proj", out="decoder_out")
    return g.model(
        "edgeasr_decoder",
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", cfg.context_size])],
        [helper.make_tensor_value_info("decoder_out", TensorProto.FLOAT, ["N", cfg.joiner_dim])],
        {"vocab_size": cfg.vocab_size, "context_size": cfg.context_size})


def _joiner_model(model: Transducer) -> onnx.ModelProto:
    cfg, out = model.cfg, model.joiner.output
    g = _Graph()
    g.linear(g.op("Tanh", g.op("Add", "encoder_out", "decoder_out")), out.weight, out.bias, "joiner.output",
             out="logit")
    f32 = TensorProto.FLOAT
    return g.model(
        "edgeasr_joiner",
        [helper.make_tensor_value_info("encoder_out", f32, ["N", cfg.joiner_dim]),
         helper.make_tensor_value_info("decoder_out", f32, ["N", cfg.joiner_dim])],
        [helper.make_tensor_value_info("logit", f32, ["N", cfg.vocab_size])],
        {"joiner_dim": cfg.joiner_dim})


def _quantize(src: Path, dst: Path) -> None:
    """int8 weights for the MatMuls, activations quantized on the fly, as icefall's export scripts make the int8
    models sherpa-onnx ships."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    # sherpa-onnx reads the metadata from whichever file it is given; make sure the quantizer kept all of it.
    metadata = {p.key: p.value for p in onnx.load(src).metadata_props}
    quantized = onnx.load(dst)
    kept = {p.key: p.value for p in quantized.metadata_props}
    if any(kept.get(k) != v for k, v in metadata.items()):
        helper.set_model_props(quantized, {**kept, **metadata})
        onnx.save(quantized, dst)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m edgeasr.train.onnx_export", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="training checkpoint (.pt) or edgeasr.train.export file")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--int8", action="store_true", help="also write .int8.onnx files (int8 MatMul weights)")
    parser.add_argument("--chunk-frames", type=int, default=DEFAULT_CHUNK_FRAMES,
                        help=f"feature frames per encoder call (default {DEFAULT_CHUNK_FRAMES})")
    args = parser.parse_args(argv)
    try:
        files = export_sherpa_onnx(args.checkpoint, args.out_dir, args.int8, chunk_frames=args.chunk_frames)
    except ValueError as e:
        parser.error(str(e))
    for precision, f in files.items():
        print(f"{precision}: {f.encoder} {f.decoder} {f.joiner} {f.tokens}")
    print("sherpa-onnx features for this model:", json.dumps(sherpa_feature_kwargs()))


if __name__ == "__main__":
    main()
