"""Lattice rescoring: the k best word sequences of a lattice, reranked with the cloud LM.

    score = acoustic + bias + lm_weight * log P_lm(words) + word_bonus * len(words)
            + device_lm_weight * log P_device_lm(tokens of words)

``lm_weight`` (λ) and ``word_bonus`` (γ) are tuned on the dev split (:func:`tune`) and saved as JSON next to the LM
(:func:`save_weights`, :func:`load_weights`). The LM is anything with ``score(list of word sequences) -> list of
log-probabilities`` (:class:`edgeasr.cloud.lm.NeuralLM`), so this module imports no torch itself.

A device that fuses an n-gram LM (the bundled model's default) sends lattices whose acoustic scores already hold
``lm_scale x log P_device_lm`` of every path. Adding the cloud LM on top counts a language model twice; a negative
``device_lm_weight`` (μ, tuned with λ and γ) takes part of the device's share back out, so the cloud LM replaces it
instead. The service then needs the device's n-gram LM (:class:`edgeasr.ngram_lm.NgramLm`, whose token table spells
the words with the device's BPE), the one the weights were tuned with.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Protocol, Sequence, Union

from edgeasr import _core

if TYPE_CHECKING:
    from edgeasr.lattice import Lattice

__all__ = ["RescoreWeights", "Candidate", "SentenceScorer", "Rescorer", "expand", "combine", "tune",
           "word_errors", "save_weights", "load_weights", "DEFAULT_MAX_PATHS"]

DEFAULT_MAX_PATHS = 128  # word sequences expanded per lattice (bench/rescore.py: the best on dev)
_WEIGHTS_FORMAT = "edgeasr.rescore_weights"


class SentenceScorer(Protocol):
    def score(self, sentences: Sequence[Sequence[str]]) -> list[float]: ...


@dataclass(frozen=True)
class RescoreWeights:
    lm_weight: float = 0.5    # λ
    word_bonus: float = 0.0   # γ, per word
    max_paths: int = DEFAULT_MAX_PATHS
    device_lm_weight: float = 0.0  # μ: times the device n-gram LM's log-probability of the path (< 0 takes it out)

    def validate(self) -> None:
        for name in ("lm_weight", "word_bonus", "device_lm_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if self.lm_weight < 0:
            raise ValueError(f"lm_weight: expected a number >= 0, got {self.lm_weight!r}")
        if isinstance(self.max_paths, bool) or not isinstance(self.max_paths, int) or not 1 <= self.max_paths <= 10000:
            raise ValueError(f"max_paths: expected an int in [1, 10000], got {self.max_paths!r}")


@dataclass(frozen=True)
class Candidate:
    """One expanded word sequence with its scores; ``device_rank`` is its place in the lattice's own N-best;
    ``device_lm``: the device n-gram LM's log-probability of its tokens, end of sentence included (0 without one)."""
    words: tuple[str, ...]
    acoustic: float
    bias: float
    lm: float
    score: float
    device_rank: int
    device_lm: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def to_dict(self) -> dict:
        return {"text": self.text, "words": list(self.words), "score": self.score, "acoustic": self.acoustic,
                "bias": self.bias, "lm": self.lm, "device_lm": self.device_lm, "device_rank": self.device_rank}


def expand(lattice: "Lattice", max_paths: int = DEFAULT_MAX_PATHS) -> list[tuple[tuple[str, ...], float, float]]:
    """Up to ``max_paths`` distinct word sequences of the lattice, best (acoustic + bias) first, as
    (words, acoustic, bias)."""
    return [(p.words, p.acoustic, p.bias) for p in lattice.nbest(max_paths)]


def combine(acoustic: float, bias: float, lm: float, num_words: int, weights: RescoreWeights,
            device_lm: float = 0.0) -> float:
    return (acoustic + bias + weights.lm_weight * lm + weights.word_bonus * num_words
            + weights.device_lm_weight * device_lm)


def _rank(expanded, lm_scores, device_lm_scores, weights: RescoreWeights) -> list[Candidate]:
    out = [Candidate(words, ac, bias, lm, combine(ac, bias, lm, len(words), weights, dlm), rank, dlm)
           for rank, ((words, ac, bias), lm, dlm) in enumerate(zip(expanded, lm_scores, device_lm_scores))]
    out.sort(key=lambda c: (-c.score, c.device_rank))  # ties keep the device's order
    return out


class Rescorer:
    """An LM and its weights: lattice in, reranked N-best out. Thread-safe when the LM's ``score`` is.
    ``device_lm``: the n-gram LM the device fused (:class:`edgeasr.ngram_lm.NgramLm`); needed when the weights'
    ``device_lm_weight`` is not 0, and then each candidate's ``device_lm`` is its score."""

    def __init__(self, lm: SentenceScorer, weights: Optional[RescoreWeights] = None, device_lm=None):
        self.lm = lm
        self.weights = weights or RescoreWeights()
        self.weights.validate()
        if self.weights.device_lm_weight != 0 and device_lm is None:
            raise ValueError("device_lm: the weights take the device's n-gram LM share out (device_lm_weight "
                             f"{self.weights.device_lm_weight:g}), so the rescorer needs that LM")
        if device_lm is not None and device_lm.tokens.scores is None:
            raise ValueError("device_lm: its token table has no BPE piece scores, so it cannot spell the words")
        self.device_lm = device_lm
        # Every path of every lattice is tokenized, on the service's request path: natively, as the recognizer
        # tokenizes phrases (TokenTable.encode's tokens; in Python ~2 µs per character).
        self._bpe = None if device_lm is None else _core.BpeEncoder(list(device_lm.tokens.pieces),
                                                                     list(device_lm.tokens.scores))

    def _device_lm_scores(self, sentences: Sequence[tuple[str, ...]]) -> list[float]:
        if self.device_lm is None:
            return [0.0] * len(sentences)
        return [self.device_lm.score(list(self._bpe.encode(" ".join(words))), eos=True) for words in sentences]

    def rescore(self, lattice: "Lattice") -> list[Candidate]:
        """The lattice's expanded word sequences, best rescored first (empty when no final node is reachable)."""
        return self.rescore_many([lattice])[0]

    def rescore_many(self, lattices: Sequence["Lattice"]) -> list[list[Candidate]]:
        """:meth:`rescore` for several lattices with one batched LM call."""
        expanded = [expand(lat, self.weights.max_paths) for lat in lattices]
        flat = [words for paths in expanded for (words, _, _) in paths]
        scores = self.lm.score(flat) if flat else []
        if len(scores) != len(flat):
            raise RuntimeError(f"the LM returned {len(scores)} scores for {len(flat)} sentences")
        device = self._device_lm_scores(flat)
        out, i = [], 0
        for paths in expanded:
            out.append(_rank(paths, scores[i:i + len(paths)], device[i:i + len(paths)], self.weights))
            i += len(paths)
        return out


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between word sequences (substitutions, insertions, deletions)."""
    prev = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        cur = [i] + [0] * len(hypothesis)
        for j, h in enumerate(hypothesis, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def tune(candidates: Sequence[Sequence[Candidate]], references: Sequence[str],
         lm_weights: Sequence[float] = tuple(x / 20 for x in range(0, 41)),
         word_bonuses: Sequence[float] = tuple(x / 4 for x in range(-16, 17)),
         max_paths: int = DEFAULT_MAX_PATHS,
         device_lm_weights: Sequence[float] = (0.0,)) -> tuple[RescoreWeights, dict]:
    """The (λ, γ, μ) on the grid with the fewest word errors over the utterances (ties: the smallest |γ|, then the
    smallest λ, then the smallest |μ|). ``candidates`` are rescored lists (any weights: only acoustic, bias, lm and
    device_lm are used). Returns the weights and a report: errors and words at the optimum and with λ = γ = μ = 0."""
    if len(candidates) != len(references):
        raise ValueError(f"references: expected {len(candidates)} (one per utterance), got {len(references)}")
    if not candidates:
        raise ValueError("candidates: need at least one utterance to tune on")
    import numpy as np

    base, lm, dlm, nw, err, groups = [], [], [], [], [], []
    for u, (cands, ref) in enumerate(zip(candidates, references)):
        ref_words = ref.split()
        for c in cands:
            base.append(c.acoustic + c.bias)
            lm.append(c.lm)
            dlm.append(c.device_lm)
            nw.append(len(c.words))
            err.append(word_errors(ref_words, c.words))
            groups.append(u)
    words = sum(len(r.split()) for r in references)
    empty = sum(len(r.split()) for r, c in zip(references, candidates) if not c)  # no path: all words deleted
    base, lm, dlm, nw, err, groups = map(np.asarray, (base, lm, dlm, nw, err, groups))
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if len(groups) else np.zeros(0, int)

    index = np.arange(len(groups))

    def errors_at(lam: float, gam: float, mu: float = 0.0) -> int:
        if not len(groups):
            return empty
        s = base + lam * lm + gam * nw + mu * dlm
        best = np.maximum.reduceat(s, starts)                        # groups are contiguous runs
        best_of_each = np.repeat(best, np.diff(np.r_[starts, len(s)]))
        pick = np.minimum.reduceat(np.where(s == best_of_each, index, len(s)), starts)  # first best: list order
        return int(err[pick].sum()) + empty

    grid = [(errors_at(lam, gam, mu), abs(gam), lam, abs(mu), gam, mu)
            for mu in device_lm_weights for lam in lm_weights for gam in word_bonuses]
    best_errors, _, lam, _, gam, mu = min(grid)
    weights = RescoreWeights(float(lam), float(gam), max_paths, float(mu))
    report = {"utterances": len(references), "words": words, "errors": best_errors,
              "wer": best_errors / max(1, words), "errors_without_lm": errors_at(0.0, 0.0),
              "wer_without_lm": errors_at(0.0, 0.0) / max(1, words), "grid_points": len(grid)}
    return weights, report


def save_weights(path: Union[str, os.PathLike], weights: RescoreWeights, report: Optional[dict] = None) -> Path:
    weights.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": _WEIGHTS_FORMAT, **asdict(weights), "tuning": report or {}}, indent=2))
    return path


def load_weights(path: Union[str, os.PathLike]) -> RescoreWeights:
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"weights: cannot read {path} ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or obj.get("format") != _WEIGHTS_FORMAT:
        raise ValueError(f"weights: {path} is not an {_WEIGHTS_FORMAT} file")
    try:
        weights = RescoreWeights(obj["lm_weight"], obj["word_bonus"], obj.get("max_paths", DEFAULT_MAX_PATHS),
                                 obj.get("device_lm_weight", 0.0))
    except KeyError as e:
        raise ValueError(f"weights: {path} lacks {e}") from None
    weights.validate()
    return weights
