"""Arc posteriors by forward-backward in the log semiring over acoustic + bias (as WordLattice::ComputePosteriors)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeasr.lattice.graph import Lattice

NEG_INF = -math.inf


def log_add(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def forward_backward(lat: "Lattice") -> tuple[list[float], list[float]]:
    """alpha: log total score of the paths from the start to each node; beta: from each node to the finals."""
    alpha = [NEG_INF] * len(lat.nodes)
    beta = [NEG_INF] * len(lat.nodes)
    alpha[lat.start] = 0.0
    for a in lat.arcs:  # sorted by src, src < dst: a topological order
        alpha[a.dst] = log_add(alpha[a.dst], alpha[a.src] + a.score)
    for f in lat.finals:
        beta[f] = 0.0
    for a in reversed(lat.arcs):
        beta[a.src] = log_add(beta[a.src], a.score + beta[a.dst])
    return alpha, beta


def arc_posteriors(lat: "Lattice") -> list[float]:
    alpha, beta = forward_backward(lat)
    total = beta[lat.start]
    if total == NEG_INF:
        return [0.0] * len(lat.arcs)
    return [min(1.0, math.exp(alpha[a.src] + a.score + beta[a.dst] - total)) if alpha[a.src] > NEG_INF else 0.0
            for a in lat.arcs]
