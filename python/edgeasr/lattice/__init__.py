"""Word lattices: the object the recognizer hands on, and the formats it travels in.

- :class:`Lattice` (``graph``): nodes, arcs, start, finals, frame shift; best path, N-best, pruning, posteriors.
- ``json_format``: JSON with a schema version; ``wire``: the compact bytes a device sends (CRC-checked);
  ``openfst``: OpenFST text + words.txt; ``htk``: HTK SLF as PocketSphinx writes it; ``dot``: a picture.

Every reader raises :class:`LatticeError` (a ValueError) on input that does not hold a valid lattice.
"""

from edgeasr.lattice.errors import LatticeError
from edgeasr.lattice.graph import Arc, Lattice, Node, Path
from edgeasr.lattice.prune import WIRE_MAX_ARCS, WIRE_MAX_BYTES_PER_SECOND, WIRE_MIN_POSTERIOR

__all__ = ["Arc", "Lattice", "LatticeError", "Node", "Path", "WIRE_MAX_ARCS", "WIRE_MAX_BYTES_PER_SECOND",
           "WIRE_MIN_POSTERIOR"]
