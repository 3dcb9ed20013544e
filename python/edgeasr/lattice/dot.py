"""A picture of a lattice: Graphviz DOT text, rendered to SVG or PNG with the ``graphviz`` package (the ``lattice``
extra) and Graphviz's ``dot`` program.

Nodes are labelled with their time, arcs with their word and posterior; the best path is drawn bold and red, and
final nodes are double circles. Left to right, in time order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union


if TYPE_CHECKING:
    from edgeasr.lattice.graph import Lattice

FORMATS = ("svg", "png", "pdf")
BEST_COLOUR = "#c0392b"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(lat: "Lattice", title: Optional[str] = None) -> str:
    best = {id(a) for a in lat.best_path()}
    best_nodes = {lat.start} | {a.dst for a in lat.best_path()}
    finals = set(lat.finals)
    lines = ["digraph lattice {", "  rankdir=LR;", '  node [shape=circle, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=10];']
    if title:
        lines.append(f"  labelloc=t; label={_quote(title)};")
    for v in lat.nodes:
        attrs = [f"label={_quote(f'{v.time:.2f}s')}"]
        if v.id in finals:
            attrs.append("shape=doublecircle")
        if v.id == lat.start:
            attrs.append("style=filled, fillcolor=\"#eeeeee\"")
        if v.id in best_nodes:
            attrs.append(f'color="{BEST_COLOUR}", penwidth=2')
        lines.append(f"  n{v.id} [{', '.join(attrs)}];")
    for a in lat.arcs:
        word = a.word or "<no words>"
        attrs = [f"label={_quote(f'{word} {a.posterior:.2g}')}"]
        if id(a) in best:
            attrs.append(f'color="{BEST_COLOUR}", fontcolor="{BEST_COLOUR}", penwidth=2.5')
        lines.append(f"  n{a.src} -> n{a.dst} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(lat: "Lattice", path: Union[str, os.PathLike], title: Optional[str] = None) -> Path:
    """Writes the picture to ``path``; its suffix (.svg, .png, .pdf) picks the format. Returns the path."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"path: expected a file ending in one of {', '.join('.' + f for f in FORMATS)}, "
                         f"got {str(path)!r}")
    try:
        import graphviz
    except ImportError:
        raise RuntimeError("rendering a lattice needs the graphviz package: pip install 'edgeasr[lattice]'") from None
    try:
        data = graphviz.Source(to_dot(lat, title)).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RuntimeError("rendering a lattice needs Graphviz's dot program (Debian: apt-get install graphviz; "
                           "scripts/install_tts_deps.sh installs it)") from None
    path.write_bytes(data)
    return path
