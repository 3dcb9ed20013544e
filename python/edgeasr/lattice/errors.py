"""The one error every lattice reader and checker raises."""


class LatticeError(ValueError):
    """A lattice that breaks the rules of :meth:`Lattice.validate`, or input (dict, JSON, SLF, wire bytes) that does
    not hold one. A ValueError, so callers that catch bad input catch it too."""
