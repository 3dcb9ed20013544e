"""Builds python/edgeasr/data/endpoint_completeness.json: how often a request ends after its last one or two words,
counted over the domain text generator's **train** split (never dev or test), for the end-pointer's
sentence-completeness signal (edgeasr.endpoint.completeness). The model has no end-of-sentence token; this table is
the substitute.

    python scripts/build_endpoint_completeness.py [--requests 200000] [--min-count 20]   (needs the train extra)

For every request and every word position i, the prefix of words[:i + 1] is counted once under its last word and
once under its last two words, as an end when i is the last position. Words seen fewer than --min-count times are
counted as "<unk>" (so names the table never saw, such as held-out surnames, get the estimate of rare words), and
only contexts seen at least --min-count times are stored: the file stays small and every stored ratio rests on
enough counts.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from edgeasr.endpoint.completeness import FORMAT, UNK, VERSION
from edgeasr.train.text import generate_requests

OUT = Path(__file__).resolve().parent.parent / "python" / "edgeasr" / "data" / "endpoint_completeness.json"


def build(n_requests: int, min_count: int, seed: int = 0) -> dict:
    texts = [r.text.split() for r in generate_requests("train", n_requests, seed=seed)]
    freq = collections.Counter(w for words in texts for w in words)
    uni: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])   # word -> [ends, total]
    bi: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])    # "w1 w2" -> [ends, total]
    ends = 0
    for words in texts:
        words = [w if freq[w] >= min_count else UNK for w in words]
        for i, w in enumerate(words):
            last = i == len(words) - 1
            uni[w][0] += last
            uni[w][1] += 1
            if i:
                b = bi[f"{words[i - 1]} {w}"]
                b[0] += last
                b[1] += 1
        ends += 1
    positions = sum(len(w) for w in texts)
    return {"format": FORMAT, "version": VERSION,
            "source": f"edgeasr.train.text.generate_requests('train', {n_requests}, seed={seed}); "
                      f"scripts/build_endpoint_completeness.py --min-count {min_count}",
            "min_count": min_count, "prior": [ends, positions],
            "unigram": {w: c for w, c in sorted(uni.items()) if c[1] >= min_count},
            "bigram": {w: c for w, c in sorted(bi.items()) if c[1] >= min_count}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200000, help="train requests to count (default 200000)")
    p.add_argument("--min-count", type=int, default=20, help="rarer words become <unk>; rarer contexts are dropped")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    table = build(args.requests, args.min_count)
    args.out.write_text(json.dumps(table, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(table['unigram'])} words, {len(table['bigram'])} word pairs, "
          f"{args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
