"""Grammars for command and control: the only phrases a stream may transcribe (the search side is
``cpp/include/edgeasr/grammar.h``). Build one with :meth:`edgeasr.Recognizer.grammar`, which tokenizes the phrases
with the model's tokens; it is immutable and may be shared by any number of streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

from edgeasr import _core


@dataclass(frozen=True)
class Grammar:
    phrases: tuple[str, ...]  # lowercase words separated by single spaces, as transcripts are
    repeat: bool              # any sequence of phrases, not only one
    native: _core.Grammar = field(repr=False, compare=False)  # what the beam search walks
    tokens_key: int = field(default=0, repr=False, compare=False)  # the token table it was tokenized with

    @property
    def num_phrases(self) -> int:
        """Distinct phrases."""
        return self.native.num_phrases

    @cached_property
    def _words(self) -> frozenset[tuple[str, ...]]:
        return frozenset(tuple(p.split()) for p in self.phrases)

    @cached_property
    def _proper_prefixes(self) -> frozenset[tuple[str, ...]]:
        return frozenset(p[:k] for p in self._words for k in range(1, len(p)))

    def is_sentence(self, words: Sequence[str]) -> bool:
        """Whether ``words`` is a transcript the grammar allows: one phrase, with ``repeat`` a sequence of them, or
        nothing."""
        words, phrases = tuple(words), self._words
        if not self.repeat:
            return not words or words in phrases
        ends = [True] + [False] * len(words)  # ends[i]: words[:i] is a sequence of phrases
        for i in range(1, len(words) + 1):
            ends[i] = any(ends[i - len(p)] and words[i - len(p):i] == p for p in phrases if len(p) <= i)
        return ends[-1]

    def can_go_on(self, words: Sequence[str]) -> bool:
        """Whether a longer transcript the grammar allows starts with ``words``."""
        words = tuple(words)
        if self.repeat:
            return True  # another phrase may always follow
        return not words or words in self._proper_prefixes
