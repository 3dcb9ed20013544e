"""Builds python/edgeasr/data/endpoint_completeness.json: how often a request ends after its last few words, counted
over the domain text generator's **train** split (never dev or test), for the end-pointer's sentence-completeness
signal (edgeasr.endpoint.completeness). The model has no end-of-sentence token; this table is the substitute.

    python scripts/build_endpoint_completeness.py [--order 4] [--requests 200000] [--min-count 20] [--evaluate]
                                                                                                  (train extra)

For every request and every word position i, the prefix words[:i + 1] (padded in front with order - 1 start
symbols "<s>") is counted once under each of its last 1..order words, as an end when i is the last position. Words
seen fewer than --min-count times are counted as "<unk>" (so names the table never saw, such as held-out surnames,
get the estimate of rare words), and only contexts seen at least --min-count times are stored: the file stays small
and every stored ratio rests on enough counts. The order was chosen on the dev split (bench/endpoint.py --tune
--completeness FILE; see python/edgeasr/endpoint/config.py).
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from edgeasr.endpoint.completeness import FORMAT, START, UNK, VERSION
from edgeasr.train.text import generate_requests

DEFAULT_ORDER = 4
OUT = Path(__file__).resolve().parent.parent / "python" / "edgeasr" / "data" / "endpoint_completeness.json"


def build(n_requests: int, min_count: int, order: int = DEFAULT_ORDER, seed: int = 0) -> dict:
    texts = [r.text.split() for r in generate_requests("train", n_requests, seed=seed)]
    freq = collections.Counter(w for words in texts for w in words)
    tables: list[dict[str, list[int]]] = [collections.defaultdict(lambda: [0, 0]) for _ in range(order)]
    ends = positions = 0
    for words in texts:
        words = [START] * (order - 1) + [w if freq[w] >= min_count else UNK for w in words]
        for i in range(order - 1, len(words)):
            last = i == len(words) - 1
            for k in range(1, order + 1):   # the contexts of 1..order words ending at position i
                c = tables[k - 1][" ".join(words[i - k + 1:i + 1])]
                c[0] += last
                c[1] += 1
            positions += 1
        ends += 1
    return {"format": FORMAT, "version": VERSION,
            "source": f"edgeasr.train.text.generate_requests('train', {n_requests}, seed={seed}); "
                      f"scripts/build_endpoint_completeness.py --order {order} --min-count {min_count}",
            "min_count": min_count, "prior": [ends, positions], "order": order,
            "contexts": [{w: c for w, c in sorted(t.items()) if c[1] >= min_count} for t in tables]}


def evaluate(path: Path, n_requests: int = 20000, threshold: float = 0.7) -> dict:
    """How the table at ``path`` judges the generator's **dev** requests (never used to build it): the share of
    request ends it calls complete (P >= threshold) and the share of the other word boundaries it wrongly does."""
    from edgeasr.endpoint.completeness import CompletenessModel

    model = CompletenessModel(path)
    ends, inner = [], []
    for r in generate_requests("dev", n_requests, seed=1):
        words = r.text.split()
        for i in range(1, len(words) + 1):
            (ends if i == len(words) else inner).append(model.p_end(words[:i]) >= threshold)
    return {"threshold": threshold, "dev_requests": n_requests, "memory_bytes": model.nbytes,
            "ends_complete": sum(ends) / len(ends),
            "inner_boundaries_complete": sum(inner) / len(inner)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200000, help="train requests to count (default 200000)")
    p.add_argument("--min-count", type=int, default=20, help="rarer words become <unk>; rarer contexts are dropped")
    p.add_argument("--order", type=int, default=DEFAULT_ORDER, help="longest context in words (default 4)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--evaluate", action="store_true",
                   help="then print how the table judges the generator's dev requests (ends and other boundaries)")
    args = p.parse_args()
    table = build(args.requests, args.min_count, args.order)
    args.out.write_text(json.dumps(table, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    sizes = ", ".join(str(len(t)) for t in table["contexts"])
    print(f"wrote {args.out}: contexts of 1..{args.order} words: {sizes}; {args.out.stat().st_size} bytes")
    if args.evaluate:
        e = evaluate(args.out)
        print(f"dev text ({e['dev_requests']} requests), P >= {e['threshold']}: {100 * e['ends_complete']:.1f} % of "
              f"request ends complete, {100 * e['inner_boundaries_complete']:.2f} % of other word boundaries; "
              f"loaded, the table holds {e['memory_bytes'] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
