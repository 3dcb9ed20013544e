"""Sentence completeness: P(the request ends here | its last one or two words).

The transducer has no end-of-sentence token, so the end-pointer asks a small table instead: counts of how often a
request of the domain ends after a given word or word pair, made from the text generator's train split by
``scripts/build_endpoint_completeness.py`` and shipped as ``edgeasr/data/endpoint_completeness.json`` (about
100 KB, plain JSON: inference needs no torch, faker or sentencepiece).

Estimate, for words ``..., w1, w2`` (words the table does not know count as ``<unk>``, the class of the rare words
it was built with, so an unseen surname gets the estimate of rare names):

    p1 = (ends(w2) + a * prior) / (count(w2) + a)                   the last word, shrunk toward the prior
    p2 = (ends(w1 w2) + b * p1) / (count(w1 w2) + b)                 the last pair, shrunk toward p1

with ``a = b = 2`` counts; no words at all gives 0 (nothing said is not a complete request).
"""

from __future__ import annotations

import importlib.resources
import json
import os
from pathlib import Path
from typing import Optional, Sequence, Union

__all__ = ["CompletenessModel", "default_completeness_path", "FORMAT", "VERSION", "UNK"]

FORMAT = "edgeasr.endpoint_completeness"
VERSION = 1
UNK = "<unk>"
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
        if not isinstance(prior, list) or len(prior) != 2 or not 0 < prior[0] <= prior[1]:
            raise ValueError(f"{path}: prior: expected [ends, total] with 0 < ends <= total")
        self.path = path
        self.source: str = str(data.get("source", ""))
        self.prior = prior[0] / prior[1]
        self._uni = _counts(data.get("unigram"), f"{path}: unigram")
        self._bi = _counts(data.get("bigram"), f"{path}: bigram")

    def _word(self, w: str) -> str:
        return w if w in self._uni else UNK

    def _p1(self, w: str) -> float:
        ends, total = self._uni.get(w, (0, 0))
        return (ends + _SHRINK * self.prior) / (total + _SHRINK)

    def p_end(self, words: Sequence[str]) -> float:
        """P(the request is complete after ``words``), in [0, 1]; 0 for no words."""
        if isinstance(words, str):
            raise ValueError("words: expected a sequence of words, got a str (split it first)")
        words = [w.lower() for w in words if w]
        if not words:
            return 0.0
        w2 = self._word(words[-1])
        p = self._p1(w2)
        if len(words) >= 2:
            ends, total = self._bi.get(f"{self._word(words[-2])} {w2}", (0, 0))
            p = (ends + _SHRINK * p) / (total + _SHRINK)
        return p

    def __repr__(self) -> str:
        return f"CompletenessModel({str(self.path)!r}: {len(self._uni)} words, {len(self._bi)} pairs)"


_DEFAULT: Optional[CompletenessModel] = None


def default_completeness() -> CompletenessModel:
    """The bundled table, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CompletenessModel()
    return _DEFAULT
