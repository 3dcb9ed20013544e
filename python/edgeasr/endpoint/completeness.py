"""Sentence completeness: P(the request ends here | its last few words).

The transducer has no end-of-sentence token, so the end-pointer asks a small table instead: counts of how often a
request of the domain ends after a given context of up to ``order`` words (the start of the request counts as the
word ``<s>``, so "start a timer" and "set a timer for ten minutes" end in different contexts), made from the text
generator's train split by ``scripts/build_endpoint_completeness.py`` and shipped as
``edgeasr/data/endpoint_completeness.json`` (plain JSON: inference needs no torch, faker or sentencepiece).

Estimate, for words ``w_1 ... w_n`` padded in front with ``order - 1`` start symbols (words the table does not know
count as ``<unk>``, the class of the rare words it was built with, so an unseen surname gets the estimate of rare
names), from the shortest context to the longest:

    p_0 = prior                                                     ends / positions over the whole text
    p_k = (ends(last k words) + a * p_(k-1)) / (count(last k words) + a)      k = 1 .. order

with ``a = 2`` counts; a context the table does not hold leaves the estimate as it was (the shorter context's).
No words at all gives 0 (nothing said is not a complete request).
"""

from __future__ import annotations

import array
import bisect
import importlib.resources
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence, Union

__all__ = ["CompletenessModel", "default_completeness_path", "FORMAT", "VERSION", "UNK", "START"]

FORMAT = "edgeasr.endpoint_completeness"
VERSION = 2
UNK = "<unk>"
START = "<s>"
MAX_ORDER = 8
_SHRINK = 2.0


def default_completeness_path() -> Path:
    return Path(str(importlib.resources.files("edgeasr") / "data" / "endpoint_completeness.json"))


def _counts(obj: object, where: str) -> dict[str, tuple[int, int]]:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object of [ends, total] pairs")
    out = {}
    for key, value in obj.items():
        if (not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int) for v in value)
                or not 0 <= value[0] <= value[1] or value[1] == 0):
            raise ValueError(f"{where}[{key!r}]: expected [ends, total] with 0 <= ends <= total, total > 0")
        out[key] = (value[0], value[1])
    return out


class CompletenessModel:
    """Immutable after loading; share one between streams."""

    def __init__(self, path: Union[str, os.PathLike, None] = None):
        path = Path(path) if path is not None else default_completeness_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: cannot read a completeness table ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"{path}: not a completeness table (format {FORMAT!r}, version {VERSION})")
        prior = data.get("prior")
        if not isinstance(prior, list) or len(prior) != 2 or not all(isinstance(v, int) for v in prior) \
                or not 0 < prior[0] <= prior[1]:
            raise ValueError(f"{path}: prior: expected [ends, total] with 0 < ends <= total")
        order = data.get("order")
        if not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
            raise ValueError(f"{path}: order: expected an integer in 1..{MAX_ORDER}, got {order!r}")
        contexts = data.get("contexts")
        if not isinstance(contexts, list) or len(contexts) != order:
            raise ValueError(f"{path}: contexts: expected a list of {order} tables (contexts of 1..{order} words)")
        self.path = path
        self.source: str = str(data.get("source", ""))
        self.order = order
        self.prior = prior[0] / prior[1]
        tables = [_counts(t, f"{path}: contexts[{k}]") for k, t in enumerate(contexts)]
        # Compact storage (a device keeps this for the stream's life): words become small integers, a context of k
        # words the base-`base` number of its word ids (the last word the lowest digit), each table three int64
        # arrays sorted by context and searched by bisection (dicts of tuples took many times the file's size).
        words = sorted(set(tables[0]) - {START})
        self._ids = {START: 0, **{w: i for i, w in enumerate(words, 1)}}
        base = len(self._ids)
        if base ** order >= 2 ** 63:
            raise ValueError(f"{path}: {base - 1} words at order {order}: contexts do not fit 63 bits")
        self._base = base
        self._tables = []
        for k, counts in enumerate(tables, 1):
            coded = []
            for key, (ends, total) in counts.items():
                ws = key.split(" ")
                if len(ws) != k:
                    raise ValueError(f"{path}: contexts[{k - 1}][{key!r}]: expected {k} words")
                code = 0
                for w in ws:
                    if w not in self._ids or (w == START and k == 1):
                        raise ValueError(f"{path}: contexts[{k - 1}][{key!r}]: {w!r} is not a word of contexts[0]")
                    code = code * base + self._ids[w]
                coded.append((code, ends, total))
            coded.sort()
            # array.array: 8 bytes an entry, and bisect on it is cheap per lookup (np.searchsorted is not).
            self._tables.append(tuple(array.array("q", [c[i] for c in coded]) for i in range(3)))  # keys, ends, totals
        self._unk = self._ids.get(UNK, -1)

    @property
    def nbytes(self) -> int:
        """Bytes the loaded table holds: its arrays, the word-id map and the words."""
        arrays = sum(a.itemsize * len(a) for table in self._tables for a in table)
        return arrays + sys.getsizeof(self._ids) + sum(sys.getsizeof(w) for w in self._ids)

    def _id(self, w: str) -> int:
        """The word's id; a word the table does not know is <unk> (-1 when the table has no <unk> either)."""
        i = self._ids.get(w, self._unk)
        return self._unk if i == 0 else i   # "<s>" said as a word is no start of request

    def p_end(self, words: Sequence[str]) -> float:
        """P(the request is complete after ``words``), in [0, 1]; 0 for no words."""
        if isinstance(words, str):
            raise ValueError("words: expected a sequence of words, got a str (split it first)")
        words = [w.lower() for w in words if w]
        if not words:
            return 0.0
        tail = [0] * max(0, self.order - len(words)) + [self._id(w) for w in words[-self.order:]]
        p, code, scale = self.prior, 0, 1
        for k, (keys, ends, totals) in enumerate(self._tables, 1):
            i = tail[-k]
            if i < 0:   # an unknown word and no <unk> class: no context this long or longer holds it
                break
            code += i * scale
            scale *= self._base
            j = bisect.bisect_left(keys, code)
            if j < len(keys) and keys[j] == code:
                p = (ends[j] + _SHRINK * p) / (totals[j] + _SHRINK)
        return p

    def __repr__(self) -> str:
        sizes = ", ".join(str(len(keys)) for keys, _, _ in self._tables)
        return f"CompletenessModel({str(self.path)!r}: order {self.order}, contexts of 1..{self.order} words: {sizes})"


_DEFAULT: Optional[CompletenessModel] = None


def default_completeness() -> CompletenessModel:
    """The bundled table, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CompletenessModel()
    return _DEFAULT


class GrammarCompleteness:
    """Completeness from a grammar (:class:`edgeasr.grammar.Grammar`) the stream decodes with: 0 for words that are
    no whole transcript of it (a phrase cut short), 1 for a whole transcript that no longer one starts with, and the
    table's estimate for one that may go on ("call" when "call mum" is a phrase too; any transcript of a grammar with
    ``repeat``). A command grammar thus tells the end-pointer when a command is complete, which a table counted on
    the domain's requests may not know."""

    def __init__(self, grammar, table: Optional[CompletenessModel] = None):
        self.grammar = grammar
        self.table = table if table is not None else default_completeness()
        self.path = self.table.path
        self.source = f"grammar of {grammar.num_phrases} phrases, else {self.table.source or self.table.path}"

    def p_end(self, words: Sequence[str]) -> float:
        if isinstance(words, str):
            raise ValueError("words: expected a sequence of words, got a str (split it first)")
        words = [w.lower() for w in words if w]
        if not words or not self.grammar.is_sentence(words):
            return 0.0
        return self.table.p_end(words) if self.grammar.can_go_on(words) else 1.0

    def __repr__(self) -> str:
        return f"GrammarCompleteness({self.source})"
