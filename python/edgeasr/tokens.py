"""The token table a model carries, so inference turns token ids into words without sentencepiece.

Pieces follow sentencepiece's convention: "▁" (U+2581) marks the start of a word. Id 0 is the RNN-T blank "<blk>",
which never appears in a transcript. A table is saved as JSON inside the model file, and can be written as the
"tokens.txt" other runtimes read (sherpa-onnx: one "piece id" per line).
"""

from __future__ import annotations

import json
import operator
import os
from typing import Iterable, Sequence, Union

__all__ = ["TokenTable", "BLANK", "WORD_START"]

BLANK = "<blk>"
WORD_START = "\u2581"

_FORMAT = "edgeasr.tokens"
_VERSION = 1


class TokenTable:
    """Token pieces by id; immutable. ``pieces[0]`` must be the blank ``"<blk>"``."""

    def __init__(self, pieces: Sequence[str]):
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

    # -- lookups
    @property
    def pieces(self) -> tuple[str, ...]:
        return self._pieces

    @property
    def blank_id(self) -> int:
        return 0

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

    # -- saving
    def to_json(self) -> str:
        return json.dumps({"format": _FORMAT, "version": _VERSION, "pieces": list(self._pieces)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "TokenTable":
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"text: not JSON ({e})") from None
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise ValueError(f"text: not an {_FORMAT} object")
        if obj.get("version") != _VERSION:
            raise ValueError(f"text: {_FORMAT} version {obj.get('version')!r} is not supported (expected {_VERSION})")
        pieces = obj.get("pieces")
        if not isinstance(pieces, list):
            raise ValueError("text: 'pieces' must be a list")
        return cls(pieces)

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
