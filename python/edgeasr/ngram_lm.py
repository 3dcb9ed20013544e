"""Token n-gram language models for shallow fusion in the beam search (the search side is
``cpp/include/edgeasr/ngram_lm.h``).

A model comes as ARPA text whose words are the model's token pieces ("▁call", "er", "</s>"), as
``python -m edgeasr.train.ngram`` writes it or KenLM's ``lmplz`` does for BPE-tokenized text, or as the compiled
safetensors file :meth:`NgramLm.save` writes (no parsing on load). Either way it belongs to one token table: a
recognizer with other tokens refuses it.

    lm = NgramLm.from_arpa("tokens.arpa", recognizer.tokens)
    lm.save("tokens.lm.safetensors")
    rec = Recognizer(config=RecognizerConfig(lm_scale=0.3), lm="tokens.lm.safetensors")
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Optional, Union

import numpy as np

from edgeasr import _core
from edgeasr.model_file import write_safetensors
from edgeasr.tokens import TokenTable

__all__ = ["NgramLm", "NgramLmError", "load_lm", "is_lm_file"]

_FORMAT, _VERSION = "edgeasr-ngram-lm", "1"
_LN10 = math.log(10.0)
_BOS, _EOS, _UNK = "<s>", "</s>", "<unk>"
_BOS_ID = -2  # a history's <s>; never a token the search emits
_ARRAYS = {"backoff": np.float32, "suffix": np.int32, "arc_offsets": np.int64, "arc_token": np.int32,
           "arc_logprob": np.float32, "arc_next": np.int32}
# On disk, smaller: scores in float16 (about 3 significant digits, far finer than the LM's own estimation error),
# token ids in uint16, offsets in int32 (checked on save).
_STORED = {"backoff": np.float16, "suffix": np.int32, "arc_offsets": np.int32, "arc_token": np.uint16,
           "arc_logprob": np.float16, "arc_next": np.int32}


class NgramLmError(ValueError):
    """A file that is not a usable n-gram LM for the given tokens (names the file and the problem)."""


class NgramLm:
    """A compiled n-gram LM over one token table; ``native`` is what the beam search walks. Immutable."""

    def __init__(self, arrays: dict[str, np.ndarray], tokens: TokenTable, start_state: int, source: str = ""):
        self.tokens = tokens
        self.arrays = arrays
        self.source = source
        self.native = _core.NgramLm(len(tokens), int(start_state), tokens.blank_id,
                                    **{k: np.ascontiguousarray(arrays[k], dtype=t) for k, t in _ARRAYS.items()})

    @property
    def order(self) -> int:
        return self.native.order

    @property
    def num_ngrams(self) -> int:
        return self.native.num_arcs

    def describe(self) -> dict:
        """What ``edgeasr info`` prints for an LM file: order, n-grams, states, vocabulary, bytes."""
        path = Path(self.source) if self.source else None
        return {"kind": "ngram_lm", "path": self.source, "order": self.order, "ngrams": self.num_ngrams,
                "states": int(self.arrays["backoff"].size), "vocab_size": len(self.tokens),
                "memory_bytes": int(sum(a.nbytes for a in self.arrays.values())),
                "file_bytes": path.stat().st_size if path is not None and path.is_file() else None}

    def score(self, token_ids, eos: bool = True) -> float:
        """ln P of a token sequence from <s> (with </s> at the end when ``eos``)."""
        state, total = self.native.start_state, 0.0
        for t in [*token_ids, *([len(self.tokens)] if eos else [])]:
            lp, state = self.native.score(state, int(t))
            total += lp
        return total

    # -- ARPA
    @classmethod
    def from_arpa(cls, path: Union[str, os.PathLike], tokens: TokenTable) -> "NgramLm":
        """Compile ARPA text over ``tokens``' pieces. NgramLmError for anything malformed or not a token."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise NgramLmError(f"{path}: cannot read ARPA text: {e}") from None
        try:
            return cls.from_arpa_text(text, tokens, source=str(path))
        except ValueError as e:  # the file's fault: its text, or arrays the native checks refuse
            raise NgramLmError(f"{path}: {e}") from None

    @classmethod
    def from_arpa_text(cls, text: str, tokens: TokenTable, source: str = "") -> "NgramLm":
        """Compile ARPA text already in memory (ValueError for anything malformed or not a token)."""
        arrays, start = _compile(_parse_arpa(text, tokens), tokens)
        return cls(arrays, tokens, start, source=source)

    # -- compiled file
    def save(self, path: Union[str, os.PathLike]) -> Path:
        meta = {"format": _FORMAT, "version": _VERSION, "start_state": str(self.native.start_state),
                "tokens": self.tokens.to_json(), "source": self.source}
        if len(self.tokens) > np.iinfo(np.uint16).max or self.num_ngrams > np.iinfo(np.int32).max:
            raise ValueError("save: too many tokens or n-grams for the compact file format")
        stored = {k: np.ascontiguousarray(v, dtype=_STORED[k]) for k, v in self.arrays.items()}
        return write_safetensors(Path(path), stored, meta)


def is_lm_file(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` is a compiled n-gram LM file by its metadata (False for anything unreadable)."""
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="np") as f:
            return (f.metadata() or {}).get("format") == _FORMAT
    except Exception:  # not safetensors at all: not an LM file either
        return False


def load_lm(path: Union[str, os.PathLike], tokens: Optional[TokenTable] = None) -> NgramLm:
    """Read a compiled LM (``.safetensors``), or compile ARPA text (any other file; needs ``tokens``). A compiled
    LM made for other tokens than ``tokens`` raises NgramLmError."""
    path = Path(path)
    if not path.is_file():
        raise NgramLmError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        return _load_compiled(path, tokens)
    if tokens is None:
        raise NgramLmError(f"{path}: ARPA text needs the token table it was written over")
    return NgramLm.from_arpa(path, tokens)


def _load_compiled(path: Path, tokens: Optional[TokenTable]) -> NgramLm:
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            names = set(f.keys())
            if meta.get("format") != _FORMAT:
                raise NgramLmError(f"{path}: not an edgeasr n-gram LM (format {meta.get('format')!r})")
            if meta.get("version") != _VERSION:
                raise NgramLmError(f"{path}: format version {meta.get('version')!r}, this edgeasr reads {_VERSION}")
            if names != set(_STORED):
                raise NgramLmError(f"{path}: tensors {sorted(names)}, expected {sorted(_STORED)}")
            arrays = {k: f.get_tensor(k) for k in _STORED}
    except NgramLmError:
        raise
    except Exception as e:  # safetensors raises its own errors for a bad header or truncated data
        raise NgramLmError(f"{path}: not a readable safetensors file: {e}") from None
    for k, dtype in _STORED.items():
        if arrays[k].dtype != dtype or arrays[k].ndim != 1:
            raise NgramLmError(f"{path}: {k}: expected a 1-D {np.dtype(dtype).name} array")
        arrays[k] = arrays[k].astype(_ARRAYS[k])
    try:
        own = TokenTable.from_json(meta.get("tokens", ""))
        start = int(meta.get("start_state", ""))
    except (ValueError, TypeError) as e:
        raise NgramLmError(f"{path}: bad metadata: {e}") from None
    if tokens is not None and own != tokens:
        raise NgramLmError(f"{path}: made for another token table than the model's")
    try:
        return NgramLm(arrays, own, start, source=str(path))
    except ValueError as e:
        raise NgramLmError(f"{path}: {e}") from None


_SECTION = re.compile(r"^\\(\d+)-grams:$")


def _parse_arpa(text: str, tokens: TokenTable) -> dict[tuple, tuple[float, float]]:
    """{(history ids..., token id): (ln prob, ln backoff)}; <s> as _BOS_ID, </s> as len(tokens)."""
    ids = {piece: i for i, piece in enumerate(tokens.pieces) if i != tokens.blank_id}
    ids[_BOS], ids[_EOS] = _BOS_ID, len(tokens)
    unk = tokens.unk_id
    lines = text.split("\n")
    i = 0
    while i < len(lines) and lines[i].strip() != "\\data\\":
        i += 1
    if i == len(lines):
        raise ValueError("no \\data\\ section: not ARPA text")
    counts: dict[int, int] = {}
    i += 1
    while i < len(lines) and lines[i].strip().startswith("ngram "):
        m = re.fullmatch(r"ngram (\d+)\s*=\s*(\d+)", lines[i].strip())
        if not m:
            raise ValueError(f"line {i + 1}: bad count line {lines[i]!r}")
        counts[int(m.group(1))] = int(m.group(2))
        i += 1
    if not counts or sorted(counts) != list(range(1, max(counts) + 1)):
        raise ValueError("\\data\\: expected counts for orders 1..N")
    grams: dict[tuple, tuple[float, float]] = {}
    order, seen = 0, 0
    unk_unigram: Optional[float] = None
    for i in range(i, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        m = _SECTION.match(line)
        if m or line == "\\end\\":
            if order and seen != counts[order]:
                raise ValueError(f"\\{order}-grams: {seen} entries, the header says {counts[order]}")
            if line == "\\end\\":
                break
            order, seen = int(m.group(1)), 0
            if order not in counts:
                raise ValueError(f"line {i + 1}: section {order} has no count in \\data\\")
            continue
        if not order:
            raise ValueError(f"line {i + 1}: an entry outside any n-gram section")
        fields = line.split()
        if len(fields) not in (order + 1, order + 2):
            raise ValueError(f"line {i + 1}: expected a log10 prob, {order} words and maybe a backoff")
        try:
            lp, bo = float(fields[0]), float(fields[order + 1]) if len(fields) == order + 2 else 0.0
        except ValueError:
            raise ValueError(f"line {i + 1}: not a number in {line!r}") from None
        if not (math.isfinite(lp) and math.isfinite(bo)):
            raise ValueError(f"line {i + 1}: not a finite number in {line!r}")
        seen += 1
        words = fields[1:order + 1]
        if words == [_UNK] and unk is None:
            unk_unigram = lp * _LN10
            continue
        try:
            key = tuple(unk if w == _UNK else ids[w] for w in words)
        except KeyError as e:
            raise ValueError(f"line {i + 1}: {e.args[0]!r} is not a token of the model") from None
        if None in key:
            continue  # <unk> in a longer n-gram of a model without <unk>: never reached
        if _BOS_ID in key[1:] or len(tokens) in key[:-1]:
            raise ValueError(f"line {i + 1}: <s> or </s> in the middle of {line!r}")
        grams[key] = (lp * _LN10, bo * _LN10)
    else:
        raise ValueError("no \\end\\ line: truncated ARPA text")
    # Tokens without a unigram (pieces the LM's text never had): the ARPA's <unk> probability, as KenLM gives them.
    for t in range(len(tokens)):
        if t != tokens.blank_id and (t,) not in grams:
            if unk_unigram is None:
                raise ValueError(f"token {tokens[t]!r} has no unigram and the model has no <unk> entry")
            grams[(t,)] = (unk_unigram, 0.0)
    if (len(tokens),) not in grams:
        raise ValueError("no unigram for </s>")
    return grams


def _compile(grams: dict[tuple, tuple[float, float]], tokens: TokenTable) -> tuple[dict[str, np.ndarray], int]:
    """The arrays of ngram_lm.h: states are the histories (every n-gram below the top order), shortest first."""
    top = max(map(len, grams))
    eos = len(tokens)
    histories = sorted((g for g in grams if len(g) < top and g[-1] != eos), key=lambda g: (len(g), g))
    state_of = {(): 0}
    for g in histories:
        state_of[g] = len(state_of)
    backoff = np.zeros(len(state_of), np.float32)
    suffix = np.full(len(state_of), -1, np.int32)
    for g, s in state_of.items():
        if g:
            backoff[s] = grams[g][1]
            suffix[s] = state_of[_longest_state(g[1:], state_of)]
    arcs: list[list[tuple[int, float, int]]] = [[] for _ in state_of]
    for g, (lp, _) in grams.items():
        if g[-1] == _BOS_ID:
            continue  # <s> is never predicted
        h = g[:-1]
        if h not in state_of:
            raise ValueError(f"n-gram {g}: its history is not an n-gram of the model (malformed ARPA)")
        nxt = 0 if g[-1] == eos else state_of[_longest_state(g[-(top - 1):] if top > 1 else (), state_of)]
        arcs[state_of[h]].append((g[-1], lp, nxt))
    offsets = np.zeros(len(state_of) + 1, np.int64)
    flat = []
    for s, a in enumerate(arcs):
        a.sort()
        flat += a
        offsets[s + 1] = len(flat)
    arrays = {"backoff": backoff, "suffix": suffix, "arc_offsets": offsets,
              "arc_token": np.array([a[0] for a in flat], np.int32),
              "arc_logprob": np.array([a[1] for a in flat], np.float32),
              "arc_next": np.array([a[2] for a in flat], np.int32)}
    return arrays, state_of.get((_BOS_ID,), 0)


def _longest_state(g: tuple, state_of: dict) -> tuple:
    while g not in state_of:
        g = g[1:]
    return g
