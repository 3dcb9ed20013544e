"""Paths through a lattice: the best one, their number, and the N best distinct word sequences."""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING

from edgeasr.lattice.errors import LatticeError

if TYPE_CHECKING:
    from edgeasr.lattice.graph import Lattice, Path

NEG_INF = -math.inf


def _viterbi_forward(lat: "Lattice") -> tuple[list[float], list[int]]:
    """Best score from the start to each node and the arc that gets there (arcs are sorted by src, src < dst)."""
    best = [NEG_INF] * len(lat.nodes)
    back = [-1] * len(lat.nodes)
    best[lat.start] = 0.0
    for k, a in enumerate(lat.arcs):
        s = best[a.src] + a.score
        if s > best[a.dst]:  # strict: the first arc in (src, dst) order wins a tie, as in cpp/search
            best[a.dst] = s
            back[a.dst] = k
    return best, back


def best_path(lat: "Lattice") -> list[int]:
    """Arc indices of the highest-scoring start-to-final path: empty when the start is the best final or no final
    is reachable. The same rule as WordLattice::BestPath in cpp/search/word_lattice.cc."""
    best, back = _viterbi_forward(lat)
    end = -1
    for f in lat.finals:
        if end < 0 or best[f] > best[end]:
            end = f
    if best[end] == NEG_INF:
        return []
    path = []
    v = end
    while v != lat.start and back[v] >= 0:
        path.append(back[v])
        v = lat.arcs[back[v]].src
    path.reverse()
    return path


def count_paths(lat: "Lattice") -> int:
    paths = [0] * len(lat.nodes)
    paths[lat.start] = 1
    for a in lat.arcs:
        paths[a.dst] += paths[a.src]
    return sum(paths[f] for f in lat.finals)


def best_completions(lat: "Lattice") -> list[float]:
    """Best score from each node to a final node (-inf where none is reachable)."""
    beta = [NEG_INF] * len(lat.nodes)
    for f in lat.finals:
        beta[f] = 0.0
    for a in reversed(lat.arcs):
        s = a.score + beta[a.dst]
        if s > beta[a.src]:
            beta[a.src] = s
    return beta


def nbest(lat: "Lattice", n: int) -> list["Path"]:
    """The ``n`` best distinct word sequences ("" words skipped), best first.

    A* over partial paths from the start, ordered by score so far plus the exact best completion, so complete paths
    come off the queue best first. A partial path is identified by (node, words so far): the first one popped is the
    best, and a later one with the same key could only repeat its continuations with lower scores, so it is
    dropped. That keeps the work near n times the path length even when many arcs carry the same word.
    """
    from edgeasr.lattice.graph import Path

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise LatticeError(f"n: expected a positive int, got {n!r}")
    out_arcs: list[list[int]] = [[] for _ in lat.nodes]
    for k, a in enumerate(lat.arcs):
        out_arcs[a.src].append(k)
    h = best_completions(lat)
    finals = set(lat.finals)
    tie = itertools.count()
    # Entries: (-(g + h), tie, g, node, words, arcs-as-linked-list). Max-heap through negation.
    heap = [(-h[lat.start], next(tie), 0.0, lat.start, (), None)] if h[lat.start] > NEG_INF else []
    seen_states: set = set()
    seen_words: set = set()
    results: list[Path] = []
    while heap and len(results) < n:
        _, _, g, v, words, chain = heapq.heappop(heap)
        if v == -1:  # a complete path
            if words not in seen_words:
                seen_words.add(words)
                ks = []
                while chain is not None:
                    ks.append(chain[0])
                    chain = chain[1]
                arcs = tuple(lat.arcs[k] for k in reversed(ks))
                results.append(Path(words, math.fsum(a.acoustic for a in arcs), math.fsum(a.bias for a in arcs),
                                    arcs))
            continue
        if (v, words) in seen_states:
            continue
        seen_states.add((v, words))
        if v in finals:  # stopping here is one way to finish (final weight 0)
            heapq.heappush(heap, (-g, next(tie), g, -1, words, chain))
        for k in out_arcs[v]:
            a = lat.arcs[k]
            if h[a.dst] == NEG_INF:
                continue
            g2 = g + a.score
            w2 = words + (a.word,) if a.word else words
            heapq.heappush(heap, (-(g2 + h[a.dst]), next(tie), g2, a.dst, w2, (k, chain)))
    return results
