"""Pruning: fewer arcs, the best path always kept, posteriors recomputed; and the defaults used before sending."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Optional

from edgeasr.lattice.errors import LatticeError

if TYPE_CHECKING:
    from edgeasr.lattice.graph import Lattice

# What the device keeps before it sends a lattice (Lattice.for_wire): alternatives a rescorer can still pick, a cap
# that bounds the message whatever the search produced, and a budget in bytes per second of the audio the lattice
# spans: 480 B/s is 1.5 % of 16-bit 16 kHz PCM (32,000 B/s), under the 2 % the protocol allows, however wide the beam.
# bench/lattice_size.py measures what they cost.
WIRE_MIN_POSTERIOR = 1e-3
WIRE_MAX_ARCS = 300
WIRE_MAX_BYTES_PER_SECOND = 480.0


def prune(lat: "Lattice", min_posterior: float = 0.0, max_arcs: Optional[int] = None,
          max_bytes: Optional[float] = None) -> "Lattice":
    """See :meth:`Lattice.prune`. Posteriors used for the choice are recomputed by forward-backward first, so a
    lattice whose stored posteriors are stale prunes the same as a fresh one. ``max_arcs`` below the best path's
    length keeps the best path alone; ``max_bytes`` bounds :meth:`Lattice.to_bytes` the same way (the best path
    stays even when it alone is larger)."""
    from edgeasr.lattice.paths import best_path
    from edgeasr.lattice.posteriors import arc_posteriors

    if isinstance(min_posterior, bool) or not isinstance(min_posterior, (int, float)) or \
            not 0.0 <= min_posterior <= 1.0:
        raise LatticeError(f"min_posterior: expected a probability in [0, 1], got {min_posterior!r}")
    if max_arcs is not None and (isinstance(max_arcs, bool) or not isinstance(max_arcs, int) or max_arcs < 0):
        raise LatticeError(f"max_arcs: expected an int >= 0 or None, got {max_arcs!r}")
    post = arc_posteriors(lat)
    best = best_path(lat)
    on_best = set(best)
    candidates = [k for k in range(len(lat.arcs)) if k not in on_best and post[k] >= min_posterior and post[k] > 0]
    candidates.sort(key=lambda k: (-post[k], k))

    def fits(arcs: list[int]) -> bool:
        return ((max_arcs is None or len(arcs) <= max(max_arcs, len(best)))
                and (max_bytes is None or len(_subgraph(lat, arcs).to_bytes()) <= max_bytes))

    kept = _live_arcs(lat, on_best.union(candidates))
    if not fits(kept):
        # The most probable arcs first; an arc only counts once it lies on a start-to-final path, and adding arcs
        # never removes one (nor a byte), so the largest prefix of candidates that fits is found by bisection.
        lo, hi = 0, len(candidates)  # the prefix of length lo fits (or is the best path alone), hi does not
        kept = _live_arcs(lat, on_best)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            trial = _live_arcs(lat, on_best.union(candidates[:mid]))
            if fits(trial):
                lo, kept = mid, trial
            else:
                hi = mid
    return with_posteriors(_subgraph(lat, kept))


def _subgraph(lat: "Lattice", kept: list[int]) -> "Lattice":
    """The lattice of the given live arcs and the nodes they touch (posteriors left at 0)."""
    from edgeasr.lattice.graph import Arc, Lattice, Node

    touched = {lat.start, *(lat.arcs[k].src for k in kept), *(lat.arcs[k].dst for k in kept)}
    live = sorted(touched)
    finals = [f for f in lat.finals if f in touched]  # every touched node lies on a start-to-final path
    if not finals:  # no final is reachable: the start alone, as an empty decode leaves it
        finals, live, kept = [lat.start], [lat.start], []
    new_id = {v: i for i, v in enumerate(live)}  # old ids are topological; keeping their order keeps it so
    nodes = [Node(new_id[v], lat.nodes[v].time) for v in live]
    arcs = [Arc(new_id[a.src], new_id[a.dst], a.word, a.start, a.end, a.acoustic, a.bias, 0.0)
            for a in (lat.arcs[k] for k in kept)]
    return Lattice(nodes, arcs, new_id[lat.start], [new_id[f] for f in finals], lat.frame_shift)


def _live_arcs(lat: "Lattice", arcs: set) -> list[int]:
    """The given arcs that lie on some start-to-final path through the given arcs, in order."""
    kept = sorted(arcs)
    fwd = [False] * len(lat.nodes)
    fwd[lat.start] = True
    for k in kept:
        if fwd[lat.arcs[k].src]:
            fwd[lat.arcs[k].dst] = True
    bwd = [False] * len(lat.nodes)
    for f in lat.finals:
        bwd[f] = True
    for k in reversed(kept):
        if bwd[lat.arcs[k].dst]:
            bwd[lat.arcs[k].src] = True
    return [k for k in kept if fwd[lat.arcs[k].src] and bwd[lat.arcs[k].dst]]


def with_posteriors(lat: "Lattice") -> "Lattice":
    """The same lattice with every arc's posterior recomputed by forward-backward."""
    from edgeasr.lattice.graph import Lattice
    from edgeasr.lattice.posteriors import arc_posteriors

    arcs = [dataclasses.replace(a, posterior=p) for a, p in zip(lat.arcs, arc_posteriors(lat))]
    return Lattice(lat.nodes, arcs, lat.start, lat.finals, lat.frame_shift)


def span_seconds(lat: "Lattice") -> float:
    """The audio the lattice covers: its latest node's time."""
    return max(n.time for n in lat.nodes)


def for_wire(lat: "Lattice", min_posterior: Optional[float] = None, max_arcs: Optional[int] = None,
             max_bytes_per_second: Optional[float] = None) -> "Lattice":
    """:func:`prune` with the wire defaults: posterior and arc limits, then the least probable arcs dropped until
    :meth:`Lattice.to_bytes` fits ``max_bytes_per_second`` times :func:`span_seconds` (the best path alone is kept
    even when it does not fit). ``math.inf`` turns the byte budget off."""
    rate = WIRE_MAX_BYTES_PER_SECOND if max_bytes_per_second is None else max_bytes_per_second
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or math.isnan(rate) or rate <= 0:
        raise LatticeError(f"max_bytes_per_second: expected a number > 0 (math.inf: no budget), got {rate!r}")
    out = prune(lat, WIRE_MIN_POSTERIOR if min_posterior is None else min_posterior,
                WIRE_MAX_ARCS if max_arcs is None else max_arcs)
    budget = rate * span_seconds(out)
    return out if len(out.to_bytes()) <= budget else prune(out, max_bytes=budget)
