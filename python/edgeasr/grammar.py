"""Grammars for command and control: the only phrases a stream may transcribe (the search side is
``cpp/include/edgeasr/grammar.h``). Build one with :meth:`edgeasr.Recognizer.grammar`, which tokenizes the phrases
with the model's tokens; it is immutable and may be shared by any number of streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from edgeasr import _core
from edgeasr.tokens import TokenTable


@dataclass(frozen=True)
class Grammar:
    phrases: tuple[str, ...]  # lowercase words separated by single spaces, as transcripts are
    repeat: bool              # any sequence of phrases, not only one
    native: _core.Grammar = field(repr=False, compare=False)  # what the beam search walks
    encode: Callable[[str], list[int]] = field(repr=False, compare=False)  # the model's tokens of a text
    tokens: TokenTable = field(repr=False, compare=False)  # the token table it was tokenized with
    allow_empty: bool = True  # the empty transcript is allowed (silence gives nothing)

    @property
    def num_phrases(self) -> int:
        """Distinct phrases."""
        return self.native.num_phrases

    def _state(self, words: Sequence[str]) -> int:
        """The native grammar's state after the tokens of ``words`` (``_core.Grammar.rejected`` if they leave it)."""
        try:
            tokens = self.encode(" ".join(words)) if words else []
        except ValueError:  # a character the model's tokens cannot spell: no phrase of the grammar
            return self.native.rejected
        state = self.native.start
        for token in tokens:
            state = self.native.next(state, token)
            if state == self.native.rejected:
                break
        return state

    def is_sentence(self, words: Sequence[str]) -> bool:
        """Whether ``words`` is a transcript the grammar allows: one phrase, with ``repeat`` a sequence of them, or
        nothing (with ``allow_empty``)."""
        state = self._state(words)
        return state != self.native.rejected and self.native.is_final(state)

    def can_go_on(self, words: Sequence[str]) -> bool:
        """Whether a longer transcript the grammar allows starts with ``words``."""
        state = self._state(words)
        return state != self.native.rejected and self.native.can_continue(state)
