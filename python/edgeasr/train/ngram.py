"""A token n-gram language model for on-device shallow fusion, estimated on the domain text generator's train split.

    python -m edgeasr.train.ngram --out python/edgeasr/data/default_lm.safetensors   # the bundled LM
    python -m edgeasr.train.ngram --out tokens-4gram.arpa                             # the same as ARPA text

Interpolated Kneser-Ney over the model's BPE tokens (the LM sees what the beam search emits, so it needs no
lexicon): the highest order counts n-grams, the lower orders count distinct left contexts, each order is discounted
by D = n1 / (n1 + 2 n2) of its count-of-counts, and the unigrams are interpolated with the uniform distribution over
every token, so no token has zero probability. N-grams seen fewer than ``min_count`` times (orders >= 3) are left
out and every history's backoff weight is renormalized over what stays, so each conditional distribution still sums
to one. The output is ARPA text with the tokens' pieces as words, readable by KenLM, SRILM and
:func:`edgeasr.ngram_lm.NgramLm.from_arpa` alike. Only train-split text: the dev and test contacts stay unseen.
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
from pathlib import Path
from typing import Iterable, Sequence

from edgeasr.tokens import TokenTable

__all__ = ["BOS", "EOS", "estimate_arpa", "main"]

BOS, EOS = "<s>", "</s>"


def _counts(sentences: Iterable[Sequence[str]], order: int) -> list[collections.Counter]:
    """Raw counts of every n-gram of orders 1..order, sentences padded with <s> and </s>."""
    counts = [collections.Counter() for _ in range(order)]
    for words in sentences:
        seq = (BOS, *words, EOS)
        for n in range(1, order + 1):
            c = counts[n - 1]
            for start in range(1 if n == 1 else 0, len(seq) - n + 1):  # <s> alone is no unigram: never predicted
                c[seq[start:start + n]] += 1
    return counts


def _adjusted(counts: list[collections.Counter]) -> list[collections.Counter]:
    """Kneser-Ney's counts: raw for the highest order and for n-grams that start with <s> (nothing precedes them),
    the number of distinct one-token left extensions for the others."""
    order = len(counts)
    adjusted = [collections.Counter() for _ in range(order)]
    adjusted[order - 1] = collections.Counter(counts[order - 1])
    for n in range(order - 1, 0, -1):
        lower = adjusted[n - 1]
        for gram in counts[n]:
            lower[gram[1:]] += 1
        for gram, c in counts[n - 1].items():
            if gram[0] == BOS:
                lower[gram] = c
    return adjusted


def _discount(adjusted: collections.Counter) -> float:
    n1 = sum(1 for c in adjusted.values() if c == 1)
    n2 = sum(1 for c in adjusted.values() if c == 2)
    if n1 == 0:
        return 0.5
    return min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)


def estimate_arpa(sentences: Iterable[Sequence[str]], vocabulary: Sequence[str], order: int = 4,
                  min_count: int = 2) -> str:
    """ARPA text of an interpolated Kneser-Ney model of ``order`` over ``sentences`` (each a sequence of tokens).

    ``vocabulary``: every token the model must give a probability (the unigrams), besides <s> and </s>."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"order: expected an int >= 1, got {order!r}")
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count: expected an int >= 1, got {min_count!r}")
    raw = _counts(sentences, order)
    if not raw[0]:
        raise ValueError("sentences: no text")
    for w in vocabulary:
        if w in (BOS, EOS) or not w or any(ch.isspace() for ch in w):
            raise ValueError(f"vocabulary: {w!r} cannot be an ARPA word")
    unknown = {g[0] for g in raw[0]} - set(vocabulary) - {BOS, EOS}
    if unknown:
        raise ValueError(f"sentences: tokens outside the vocabulary: {sorted(unknown)[:5]}")
    adjusted = _adjusted(raw)
    discounts = [_discount(adjusted[n]) for n in range(order)]

    # Interpolated probabilities of every n-gram seen, order by order.
    words = [EOS, *vocabulary]
    prob: list[dict] = [dict() for _ in range(order)]
    uni = adjusted[0]
    uni_total = sum(c for g, c in uni.items() if g[0] != BOS)
    uni_types = sum(1 for g in uni if g[0] != BOS)
    d = discounts[0]
    gamma0 = d * uni_types / uni_total
    for w in words:
        prob[0][(w,)] = max(uni.get((w,), 0) - d, 0.0) / uni_total + gamma0 / len(words)
    prob[0][(BOS,)] = 0.0  # never predicted; ARPA convention -99
    for n in range(2, order + 1):
        a = adjusted[n - 1]
        d = discounts[n - 1]
        hist_total: collections.Counter = collections.Counter()
        hist_types: collections.Counter = collections.Counter()
        for gram, c in a.items():
            hist_total[gram[:-1]] += c
            hist_types[gram[:-1]] += 1
        lower = prob[n - 2]
        for gram, c in a.items():
            h = gram[:-1]
            gamma = d * hist_types[h] / hist_total[h]
            prob[n - 1][gram] = (c - d) / hist_total[h] + gamma * lower[gram[1:]]

    # Pruning: orders >= 3 keep n-grams seen min_count times whose history is kept.
    kept: list[dict] = [prob[0]]
    for n in range(2, order + 1):
        keep = {}
        for gram, p in prob[n - 1].items():
            if n >= 3 and raw[n - 1][gram] < min_count:
                continue
            if n >= 3 and gram[:-1] not in kept[n - 2]:
                continue
            keep[gram] = p
        kept.append(keep)

    # Backoff weights, so that P(. | h) sums to one over the kept n-grams and the backed-off rest.
    children: dict = collections.defaultdict(list)
    for n in range(2, order + 1):
        for gram in kept[n - 1]:
            children[gram[:-1]].append(gram)
    backoff: dict = {}
    for h, grams in children.items():
        seen = sum(kept[len(h)][g] for g in grams)
        lower = sum(_lookup(kept, g[1:]) for g in grams)
        num, den = 1.0 - seen, 1.0 - lower
        backoff[h] = num / den if num > 1e-12 and den > 1e-12 else 1e-12

    lines = ["", "\\data\\"]
    for n in range(1, order + 1):
        lines.append(f"ngram {n}={len(kept[n - 1])}")
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(kept[n - 1]):
            p = kept[n - 1][gram]
            lp = -99.0 if p <= 0 else math.log10(p)
            line = f"{lp:.6f}\t{' '.join(gram)}"
            if n < order and gram in backoff:
                line += f"\t{math.log10(backoff[gram]):.6f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _lookup(kept: list[dict], gram: tuple) -> float:
    """P(gram[-1] | gram[:-1]) of a kept n-gram (the suffixes of kept n-grams are kept: they were seen at least as
    often, and their histories likewise)."""
    p = kept[len(gram) - 1].get(gram)
    if p is None:
        raise ValueError(f"internal: suffix {gram} of a kept n-gram was pruned")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from edgeasr import _core
    from edgeasr.model_file import load_model
    from edgeasr.recognizer import default_model_path
    from edgeasr.train.text import generate_requests

    ap = argparse.ArgumentParser(prog="python -m edgeasr.train.ngram", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True,
                    help="file to write: the compiled LM (.safetensors, what the recognizer loads) or ARPA text")
    ap.add_argument("--model", default=None, help="model file whose tokens the LM uses (default: the bundled one)")
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--min-count", type=int, default=5, help="n-grams of order >= 3 seen fewer times are left out")
    ap.add_argument("--sentences", type=int, default=200000, help="train-split requests per seed")
    ap.add_argument("--seeds", default="0,1", help="generator seeds (train split), comma-separated")
    args = ap.parse_args(argv)

    model = load_model(args.model or default_model_path())
    table: TokenTable = model.tokens
    pieces = [table[i] for i in range(len(table)) if i != table.blank_id]
    bpe = _core.BpeEncoder(list(table.pieces), list(table.scores))  # TokenTable.encode's tokens, natively
    sentences = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for r in generate_requests("train", args.sentences, seed=seed):
            sentences.append([table[i] for i in bpe.encode(r.text)])
    arpa = estimate_arpa(sentences, pieces, order=args.order, min_count=args.min_count)
    out = Path(args.out)
    if out.suffix == ".safetensors":
        from edgeasr.ngram_lm import NgramLm

        lm = NgramLm.from_arpa_text(arpa, table, source=f"edgeasr.train.ngram order {args.order}, min count "
                                    f"{args.min_count}, train split seeds {args.seeds}, {args.sentences} requests each")
        lm.save(out)
        what = f"{lm.num_ngrams} n-grams, {out.stat().st_size} bytes"
    else:
        out.write_text(arpa, encoding="utf-8")
        what = f"{arpa.count(chr(10))} lines"
    print(f"{out}: {len(sentences)} sentences, {sum(map(len, sentences))} tokens, {what}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
