"""Streaming transducer decoding in PyTorch eager: the baseline bench/e2e.py holds the native runtime against.

The encoder runs chunk by chunk (its LSTM states carried from one chunk to the next, as a streaming recognizer
runs it) and the search consumes each chunk's frames:

- greedy search: at most one symbol per frame, as sherpa-onnx's and edgeasr's streaming greedy searches;
- modified beam search (icefall's ``modified_beam_search``): at most one symbol per frame; each frame expands every
  live hypothesis by every token (blank included), keeps the ``beam`` best expansions of all of them, and merges
  expansions with the same token sequence by adding their probabilities (logaddexp). The result is the hypothesis
  with the best log-probability per token of its decoder sequence (the context blanks count), as icefall's
  ``get_most_probable(length_norm=True)`` and sherpa-onnx's ``GetMostProbable(true)`` choose it.

``blank_penalty`` lowers the blank's logit before the softmax (before the argmax in greedy search), as sherpa-onnx's
``blank_penalty`` does.

Written plainly, as a PyTorch user would: each frame runs the decoder on all live hypotheses (no cache of decoder
outputs) and the joiner on all of them at once.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from edgeasr.train.model import BLANK, Transducer

__all__ = ["TorchStreamingDecoder", "METHODS"]

METHODS = ("greedy_search", "modified_beam_search")


class TorchStreamingDecoder:
    """Decodes one utterance's fbank frames [T, num_features] to token ids with ``model`` (eval mode)."""

    def __init__(self, model: Transducer, method: str = "greedy_search", beam: int = 4, chunk_frames: int = 16,
                 blank_penalty: float = 0.0):
        if method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
        if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
            raise ValueError(f"beam: expected a positive int, got {beam!r}")
        stack = model.cfg.stack
        if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < stack \
                or chunk_frames % stack:
            raise ValueError(f"chunk_frames: expected a positive multiple of the model's stack ({stack}), "
                             f"got {chunk_frames!r}")
        self.model = model.eval()
        self.method = method
        self.beam = beam
        self.chunk_frames = chunk_frames
        self.context_size = model.cfg.context_size
        self.blank_penalty = float(blank_penalty)

    @torch.inference_mode()
    def decode(self, features: np.ndarray) -> list[int]:
        feats = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        if feats.ndim != 2 or feats.shape[1] != self.model.cfg.num_features:
            raise ValueError(f"features: expected [T, {self.model.cfg.num_features}], got {tuple(feats.shape)}")
        search = (_Greedy(self.model, self.blank_penalty) if self.method == "greedy_search"
                  else _ModifiedBeam(self.model, self.beam, self.blank_penalty))
        states = None
        for start in range(0, feats.shape[0], self.chunk_frames):
            chunk = feats[start:start + self.chunk_frames]
            enc, _, states = self.model.encoder(chunk[None], torch.tensor([chunk.shape[0]]), states)
            for frame in self.model.joiner.enc_proj(enc[0]):
                search.step(frame)
        return search.result()


def _context(tokens: tuple[int, ...], size: int) -> list[int]:
    """The decoder's input: the last ``size`` tokens, blanks before the first."""
    padded = (BLANK,) * size + tokens
    return list(padded[len(padded) - size:])


def _joint(model: Transducer, enc: torch.Tensor, dec: torch.Tensor, blank_penalty: float) -> torch.Tensor:
    logits = model.joiner.joint(enc, dec)
    if blank_penalty:
        logits[..., BLANK] -= blank_penalty
    return logits


class _Greedy:
    def __init__(self, model: Transducer, blank_penalty: float):
        self.model = model
        self.blank_penalty = blank_penalty
        self.tokens: tuple[int, ...] = ()
        self._update_decoder()

    def _update_decoder(self) -> None:
        ctx = torch.tensor([[_context(self.tokens, self.model.cfg.context_size)]])  # [1, 1, K]
        self.dec = self.model.joiner.dec_proj(self.model.decoder(ctx)[0, 0])

    def step(self, enc_frame: torch.Tensor) -> None:
        token = int(_joint(self.model, enc_frame, self.dec, self.blank_penalty).argmax())
        if token != BLANK:
            self.tokens += (token,)
            self._update_decoder()

    def result(self) -> list[int]:
        return list(self.tokens)


class _ModifiedBeam:
    def __init__(self, model: Transducer, beam: int, blank_penalty: float):
        self.model = model
        self.beam = beam
        self.blank_penalty = blank_penalty
        self.hyps: dict[tuple[int, ...], float] = {(): 0.0}  # token sequence -> log-probability

    def step(self, enc_frame: torch.Tensor) -> None:
        keys = list(self.hyps)
        k = self.model.cfg.context_size
        ctx = torch.tensor([_context(key, k) for key in keys])[:, None, :]      # [B, 1, K]
        dec = self.model.joiner.dec_proj(self.model.decoder(ctx)[:, 0])        # [B, J]
        log_probs = _joint(self.model, enc_frame[None], dec, self.blank_penalty).log_softmax(-1)   # [B, V]
        total = log_probs + torch.tensor([self.hyps[key] for key in keys])[:, None]
        vocab = total.shape[1]
        values, indices = total.flatten().topk(min(self.beam, total.numel()))
        merged: dict[tuple[int, ...], float] = {}
        for value, index in zip(values.tolist(), indices.tolist()):
            b, token = divmod(index, vocab)
            key = keys[b] if token == BLANK else keys[b] + (token,)
            merged[key] = _logaddexp(merged[key], value) if key in merged else value
        self.hyps = merged

    def result(self) -> list[int]:
        k = self.model.cfg.context_size
        best = max(self.hyps.items(), key=lambda kv: kv[1] / (k + len(kv[0])))
        return list(best[0])


def _logaddexp(a: float, b: float) -> float:
    hi, lo = (a, b) if a >= b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))
