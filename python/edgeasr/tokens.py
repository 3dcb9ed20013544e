"""The token table a model carries, so inference turns token ids into words without sentencepiece.

Pieces follow sentencepiece's convention: "▁" (U+2581) marks the start of a word. Id 0 is the RNN-T blank "<blk>",
which never appears in a transcript. A table is saved as JSON inside the model file, and can be written as the
"tokens.txt" other runtimes read (sherpa-onnx: one "piece id" per line).

A table that carries the BPE model's piece scores also encodes text (biasing phrases, contact names) into token ids
exactly as sentencepiece's BPE does for models trained by ``edgeasr.train.tokens`` (identity normalization, no byte
fallback, no user-defined symbols), without importing sentencepiece.
"""

from __future__ import annotations

import heapq
import json
import math
import numbers
import operator
import os
from typing import Iterable, Optional, Sequence, Union

__all__ = ["TokenTable", "BLANK", "UNK", "WORD_START"]

BLANK = "<blk>"
UNK = "<unk>"
WORD_START = "\u2581"

_FORMAT = "edgeasr.tokens"
_VERSION = 1


class TokenTable:
    """Token pieces by id, and optionally their BPE scores; immutable. ``pieces[0]`` must be the blank ``"<blk>"``.

    Tables are equal when their pieces are (ids mean the same pieces); the scores only steer :meth:`encode`.
    """

    def __init__(self, pieces: Sequence[str], scores: Optional[Sequence[float]] = None):
        if isinstance(pieces, str) or not isinstance(pieces, Sequence):
            raise ValueError(f"pieces: expected a sequence of strings, got {type(pieces).__name__}")
        pieces = tuple(pieces)
        if len(pieces) < 2:
            raise ValueError(f"pieces: need the blank and at least one token, got {len(pieces)} piece(s)")
        ids: dict[str, int] = {}
        for i, piece in enumerate(pieces):
            if not isinstance(piece, str):
                raise ValueError(f"pieces[{i}]: expected a string, got {type(piece).__name__}")
            if not piece:
                raise ValueError(f"pieces[{i}]: empty piece")
            if any(c.isspace() for c in piece):
                # tokens.txt separates piece and id by a space; sentencepiece writes spaces as "▁".
                raise ValueError(f"pieces[{i}]: {piece!r} contains whitespace")
            if piece in ids:
                raise ValueError(f"pieces[{i}]: duplicate piece {piece!r} (also id {ids[piece]})")
            ids[piece] = i
        if pieces[0] != BLANK:
            where = f"at id {ids[BLANK]}" if BLANK in ids else "missing"
            raise ValueError(f"pieces[0]: expected the blank {BLANK!r} at id 0, got {pieces[0]!r} (blank {where})")
        self._pieces = pieces
        self._ids = ids
        self._scores = None if scores is None else _check_scores(scores, len(pieces))
        # What BPE may produce: every piece but the blank and <unk>, which sentencepiece keeps out of its merges.
        self._mergeable = {p: i for p, i in ids.items() if i != 0 and p != UNK}

    # -- lookups
    @property
    def pieces(self) -> tuple[str, ...]:
        return self._pieces

    @property
    def scores(self) -> Optional[tuple[float, ...]]:
        """BPE piece scores by id (higher merges first), or None for a table saved without them."""
        return self._scores

    @property
    def blank_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> Optional[int]:
        """The id of "<unk>", or None if the table has none."""
        return self._ids.get(UNK)

    def __len__(self) -> int:
        return len(self._pieces)

    def __getitem__(self, token_id: int) -> str:
        return self._pieces[self._check_id(token_id)]

    def id_of(self, piece: str) -> int:
        """The id of ``piece``; ValueError if the table has no such piece."""
        try:
            return self._ids[piece]
        except KeyError:
            raise ValueError(f"piece: {piece!r} is not in the token table") from None

    def starts_word(self, token_id: int) -> bool:
        """Whether the token begins a new word (its piece starts with "▁")."""
        return self._pieces[self._check_id(token_id)].startswith(WORD_START)

    def word_continuations(self) -> list[int]:
        """Ids of the pieces that continue a word: all but the word starts, the blank and <unk>. Biasing uses them
        to tell a complete phrase ("awning") from the start of a longer word ("awnings")."""
        return sorted(i for p, i in self._mergeable.items() if not p.startswith(WORD_START))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenTable) and self._pieces == other._pieces

    def __hash__(self) -> int:
        return hash(self._pieces)

    def __repr__(self) -> str:
        return f"TokenTable({len(self)} pieces: {', '.join(self._pieces[:5])}{', ...' if len(self) > 5 else ''})"

    def _check_id(self, token_id) -> int:
        try:
            i = operator.index(token_id)
        except TypeError:
            raise ValueError(f"token id: expected an integer, got {type(token_id).__name__}") from None
        if not 0 <= i < len(self._pieces):
            raise ValueError(f"token id: {i} is outside [0, {len(self._pieces)})")
        return i

    # -- decoding
    def decode(self, ids: Iterable[int]) -> str:
        """Token ids to text: blanks dropped, "▁" becomes a word break, single spaces, no leading/trailing space."""
        checked = (self._check_id(i) for i in ids)
        text = "".join(self._pieces[i] for i in checked if i != 0)
        return " ".join(text.replace(WORD_START, " ").split())

    # -- encoding
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, as sentencepiece's BPE encodes it.

        Words are split at ASCII spaces only (sentencepiece's identity normalization: other whitespace is an
        ordinary character), runs of spaces collapse, and each word gets the "▁" prefix. Starting from single
        characters, the adjacent pair whose concatenation is the highest-scoring piece merges first (ties: the
        leftmost pair), until no pair forms a piece. Characters outside the table become the "<unk>" id, a run of
        them a single "<unk>"; a table without "<unk>" raises ValueError instead.
        """
        if not isinstance(text, str):
            raise ValueError(f"text: expected a string, got {type(text).__name__}")
        if self._scores is None:
            raise ValueError("text: this token table has no piece scores, so it cannot encode; re-export the model "
                             "with a token table built by edgeasr.train.tokens (it records the BPE scores)")
        words = [w for w in text.split(" ") if w]
        if not words:
            return []
        symbols = _bpe(WORD_START + WORD_START.join(words), self._mergeable, self._scores)
        unk = self.unk_id
        out: list[int] = []
        for piece in symbols:
            token = self._mergeable.get(piece)
            if token is None:
                if unk is None:
                    raise ValueError(f"text: {piece!r} is not in the token table, which has no {UNK!r} piece")
                if out and out[-1] == unk:
                    continue  # sentencepiece merges a run of unknown characters into one <unk>
                token = unk
            out.append(token)
        return out

    # -- saving
    def to_json(self) -> str:
        obj = {"format": _FORMAT, "version": _VERSION, "pieces": list(self._pieces)}
        if self._scores is not None:
            obj["scores"] = list(self._scores)
        return json.dumps(obj, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "TokenTable":
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: hostile nesting
            raise ValueError(f"text: not JSON ({type(e).__name__}: {e})") from None
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise ValueError(f"text: not an {_FORMAT} object")
        if obj.get("version") != _VERSION:
            raise ValueError(f"text: {_FORMAT} version {obj.get('version')!r} is not supported (expected {_VERSION})")
        pieces = obj.get("pieces")
        if not isinstance(pieces, list):
            raise ValueError("text: 'pieces' must be a list")
        scores = obj.get("scores")  # absent in tables saved before scores were recorded: they decode, not encode
        if scores is not None and not isinstance(scores, list):
            raise ValueError("text: 'scores' must be a list")
        return cls(pieces, scores)

    def write_tokens_txt(self, path: Union[str, os.PathLike]) -> None:
        """Write "piece id" per line, ids in order (the tokens.txt of sherpa-onnx and icefall)."""
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for i, piece in enumerate(self._pieces):
                f.write(f"{piece} {i}\n")

    @classmethod
    def read_tokens_txt(cls, path: Union[str, os.PathLike]) -> "TokenTable":
        """Read a tokens.txt ("piece id" per line); the ids must be 0..n-1, each once, in any order."""
        by_id: dict[int, str] = {}
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                piece, sep, id_text = line.rpartition(" ")
                if not sep or not id_text.isdigit():
                    raise ValueError(f"{path}:{lineno}: expected 'piece id', got {line!r}")
                token_id = int(id_text)
                if token_id in by_id:
                    raise ValueError(f"{path}:{lineno}: id {token_id} appears twice")
                by_id[token_id] = piece
        missing = sorted(set(range(len(by_id))) - set(by_id))
        if missing:
            raise ValueError(f"{path}: ids must be 0..{len(by_id) - 1}; missing {missing[:5]}")
        return cls([by_id[i] for i in range(len(by_id))])


def _check_scores(scores, n: int) -> tuple[float, ...]:
    if isinstance(scores, (str, bytes)) or not isinstance(scores, Sequence):
        raise ValueError(f"scores: expected a sequence of numbers, got {type(scores).__name__}")
    if len(scores) != n:
        raise ValueError(f"scores: expected one per piece ({n}), got {len(scores)}")
    out = []
    for i, value in enumerate(scores):
        try:
            score = None if isinstance(value, bool) or not isinstance(value, numbers.Real) else float(value)
        except OverflowError:  # an int too large for a float
            score = None
        if score is None or not math.isfinite(score):
            raise ValueError(f"scores[{i}]: expected a finite number, got {str(value)[:40]}")
        out.append(score)
    return tuple(out)


def _bpe(text: str, pieces: dict[str, int], scores: Sequence[float]) -> list[str]:
    """Merges the characters of ``text`` into pieces, best-scoring adjacent pair first (ties: leftmost)."""
    symbols = list(text)
    n = len(symbols)
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    nxt[-1] = -1
    agenda: list[tuple[float, int, int, str]] = []

    def consider(left: int, right: int) -> None:
        if left < 0 or right < 0:
            return
        merged = symbols[left] + symbols[right]
        token = pieces.get(merged)
        if token is not None:
            heapq.heappush(agenda, (-scores[token], left, right, merged))

    for i in range(n - 1):
        consider(i, i + 1)
    while agenda:
        _, left, right, merged = heapq.heappop(agenda)
        # Stale when either side has merged since: pieces only grow, so the text no longer matches.
        if not symbols[left] or not symbols[right] or symbols[left] + symbols[right] != merged:
            continue
        symbols[left], symbols[right] = merged, ""
        nxt[left] = nxt[right]
        if nxt[right] >= 0:
            prev[nxt[right]] = left
        consider(prev[left], left)
        consider(left, nxt[left])
    return [s for s in symbols if s]
