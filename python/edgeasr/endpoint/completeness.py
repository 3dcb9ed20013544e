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

import importlib.resources
import json
import os
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
        # _tables[k - 1]: contexts of k words, keyed by the tuple of words.
        self._tables = []
        for k, table in enumerate(contexts, 1):
            counts = _counts(table, f"{path}: contexts[{k - 1}]")
            bad = next((key for key in counts if len(key.split(" ")) != k), None)
            if bad is not None:
                raise ValueError(f"{path}: contexts[{k - 1}][{bad!r}]: expected {k} words")
            self._tables.append({tuple(key.split(" ")): c for key, c in counts.items()})
        self._known = {key[0] for key in self._tables[0]}

    def _word(self, w: str) -> str:
        return w if w in self._known else UNK

    def p_end(self, words: Sequence[str]) -> float:
        """P(the request is complete after ``words``), in [0, 1]; 0 for no words."""
        if isinstance(words, str):
            raise ValueError("words: expected a sequence of words, got a str (split it first)")
        words = [w.lower() for w in words if w]
        if not words:
            return 0.0
        tail = [START] * max(0, self.order - len(words)) + [self._word(w) for w in words[-self.order:]]
        p = self.prior
        for k, table in enumerate(self._tables, 1):
            ends, total = table.get(tuple(tail[-k:]), (0, 0))
            p = (ends + _SHRINK * p) / (total + _SHRINK)
        return p

    def __repr__(self) -> str:
        sizes = ", ".join(str(len(t)) for t in self._tables)
        return f"CompletenessModel({str(self.path)!r}: order {self.order}, contexts of 1..{self.order} words: {sizes})"


_DEFAULT: Optional[CompletenessModel] = None


def default_completeness() -> CompletenessModel:
    """The bundled table, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CompletenessModel()
    return _DEFAULT
