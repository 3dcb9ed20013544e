"""OpenFST text format (what ``fstcompile`` reads) and its symbol table, so OpenFST, Kaldi or kaldifst tools can
take a lattice.

Each arc becomes ``src dst word word weight`` (a transducer with equal input and output labels), each final node
a line with its id alone (final weight 0, tropical one). The weight is
tropical: ``-(acoustic + bias)``, so OpenFST's shortest path is :meth:`Lattice.best_path`. Words are written by
name; the symbol table (``words.txt``) maps ``<eps>`` to 0 (the empty word) and the other words, sorted, to 1, 2,
... The start node's arcs come first because ``fstcompile`` takes the first line's source as the start state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeasr.lattice.errors import LatticeError

if TYPE_CHECKING:
    from edgeasr.lattice.graph import Lattice

EPSILON = "<eps>"


def _label(word: str) -> str:
    if word == EPSILON:
        raise LatticeError(f"word: {EPSILON!r} is OpenFST's empty label; a lattice word cannot be spelt so")
    return word or EPSILON


def symbol_table(lat: "Lattice") -> str:
    """``words.txt``: ``<eps> 0`` then every word of the lattice, sorted, numbered from 1."""
    words = sorted({_label(a.word) for a in lat.arcs} - {EPSILON})
    return "".join(f"{w} {i}\n" for i, w in enumerate([EPSILON, *words]))


def to_openfst_text(lat: "Lattice") -> str:
    lines = []
    first = [a for a in lat.arcs if a.src == lat.start]
    rest = [a for a in lat.arcs if a.src != lat.start]
    for a in first + rest:
        label = _label(a.word)
        lines.append(f"{a.src} {a.dst} {label} {label} {-a.score!r}")
    finals = list(lat.finals)
    if not first and lat.start in finals:  # the start has no arcs: its final line must come first
        finals.remove(lat.start)
        lines.insert(0, f"{lat.start}")
    if not lines:  # neither arcs nor a final start: the empty language, an empty FST
        return ""
    lines.extend(f"{f}" for f in finals)
    return "\n".join(lines) + "\n"
