"""The server's neural language model: an LSTM over the acoustic model's BPE tokens (torch; server side only).

Scoring BPE tokens rather than words means a contact name the LM never saw in training still gets a score from its
pieces. The LM carries its own token table, so the words of a lattice are encoded here whatever model decoded them.
Token id 0 (the RNN-T blank, never part of a text) marks both ends of a sentence: a sentence's score is
log P(t_1 .. t_n, </s> | <s>) in natural-log units, the units of the acoustic scores it is added to.

An LM file is a torch checkpoint loaded with ``weights_only=True`` (tensors, numbers and strings only):
``{"format": "edgeasr.cloud_lm", "version": 1, "config": {...}, "model": state_dict, "tokens": table JSON,
"info": {...}}``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import torch
from torch import nn

from edgeasr.tokens import TokenTable

__all__ = ["LMConfig", "LSTMLM", "NeuralLM", "load_lm", "LMFileError"]

BOUNDARY = 0  # <s> and </s>: the blank id, which no text contains
_FORMAT = "edgeasr.cloud_lm"
_VERSION = 1


class LMFileError(ValueError):
    """An LM file that is missing, not an edgeasr LM, or inconsistent."""


@dataclass
class LMConfig:
    embed_dim: int = 512
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.1

    def validate(self) -> None:
        for name in ("embed_dim", "hidden", "layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name}: expected a positive int, got {value!r}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout: expected a number in [0, 1), got {self.dropout!r}")


class LSTMLM(nn.Module):
    """Embedding → stacked LSTM → linear over the vocabulary (output tied to nothing: vocabularies are small)."""

    def __init__(self, vocab_size: int, cfg: LMConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim)
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden, cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, vocab_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs [B, T] token ids → logits [B, T, V] for the next token."""
        h, _ = self.lstm(self.drop(self.embed(inputs)))
        return self.out(self.drop(h))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def batch_tensors(sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token sequences → (inputs [B, T], targets [B, T], mask [B, T]) with <s> before and </s> after each."""
    longest = max(len(s) for s in sequences) + 1
    inputs = torch.zeros(len(sequences), longest, dtype=torch.long)
    targets = torch.zeros(len(sequences), longest, dtype=torch.long)
    mask = torch.zeros(len(sequences), longest, dtype=torch.bool)
    for i, s in enumerate(sequences):
        n = len(s)
        if n:
            inputs[i, 1:n + 1] = torch.tensor(s, dtype=torch.long)
            targets[i, :n] = torch.tensor(s, dtype=torch.long)
        targets[i, n] = BOUNDARY
        mask[i, :n + 1] = True
    return inputs, targets, mask


def sequence_log_probs(model: LSTMLM, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """Per-sequence sum of log P(token | history) including </s>, shape [B] (natural log)."""
    inputs, targets, mask = batch_tensors(sequences)
    logp = torch.log_softmax(model(inputs).float(), dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(1)


class NeuralLM:
    """A trained LM ready to score sentences (evaluation mode, no gradients). Thread-safe for scoring."""

    def __init__(self, model: LSTMLM, tokens: TokenTable, info: dict | None = None):
        if model.vocab_size != len(tokens):
            raise ValueError(f"tokens: the LM has {model.vocab_size} outputs, the table {len(tokens)} pieces")
        if tokens.scores is None:
            raise ValueError("tokens: the token table has no BPE scores, so it cannot encode text")
        self.model = model.eval()
        self.tokens = tokens
        self.info = dict(info or {})
        self._word_cache: dict[str, tuple[int, ...]] = {}

    def encode(self, words: Union[str, Sequence[str]]) -> list[int]:
        """Token ids of a sentence (a string or its words). Equal to ``tokens.encode(" ".join(words))``: BPE never
        merges across a word start, so each word is encoded once and cached."""
        if isinstance(words, str):
            words = words.split()
        out: list[int] = []
        for w in words:
            ids = self._word_cache.get(w)
            if ids is None:
                ids = tuple(self.tokens.encode(w))
                if len(self._word_cache) < 1_000_000:
                    self._word_cache[w] = ids
            out.extend(ids)
        return out

    @torch.inference_mode()
    def score(self, sentences: Sequence[Union[str, Sequence[str]]], batch_size: int = 256) -> list[float]:
        """log P(sentence) for each sentence (natural log, </s> included), batched by similar length."""
        encoded = [self.encode(s) for s in sentences]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = [0.0] * len(encoded)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            scores = sequence_log_probs(self.model, [encoded[i] for i in idx])
            for i, s in zip(idx, scores.tolist()):
                out[i] = s
        return out

    def perplexity(self, sentences: Iterable[str]) -> dict:
        """Per-token and per-word perplexity (</s> counted as one token and one word)."""
        sentences = list(sentences)
        if not sentences:
            raise ValueError("sentences: need at least one sentence")
        total = sum(self.score(sentences))
        tokens = sum(len(self.encode(s)) + 1 for s in sentences)
        words = sum(len(s.split()) + 1 for s in sentences)
        return {"sentences": len(sentences), "tokens": tokens, "words": words, "log_prob": total,
                "token_perplexity": math.exp(-total / tokens), "word_perplexity": math.exp(-total / words)}

    def save(self, path: Union[str, os.PathLike]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"format": _FORMAT, "version": _VERSION, "config": dataclasses.asdict(self.model.cfg),
                    "model": self.model.state_dict(), "tokens": self.tokens.to_json(), "info": self.info}, tmp)
        os.replace(tmp, path)
        return path


def load_lm(path: Union[str, os.PathLike], threads: int | None = None) -> NeuralLM:
    """Loads an LM file written by :meth:`NeuralLM.save`; LMFileError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise LMFileError(f"lm: {path} does not exist or is not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a foreign or truncated file
        raise LMFileError(f"lm: {path} is not a readable torch file ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise LMFileError(f"lm: {path} is not an {_FORMAT} file")
    if state.get("version") != _VERSION:
        raise LMFileError(f"lm: {path} has version {state.get('version')!r}; expected {_VERSION}")
    try:
        tokens = TokenTable.from_json(state["tokens"])
        cfg = LMConfig(**state["config"])
        model = LSTMLM(len(tokens), cfg)
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise LMFileError(f"lm: {path} is inconsistent ({type(e).__name__}: {e})") from None
    if threads:
        torch.set_num_threads(threads)
    return NeuralLM(model, tokens, state.get("info"))
