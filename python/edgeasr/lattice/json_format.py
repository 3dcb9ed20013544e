"""Lattices as JSON: readable, and exact (frames are integers; scores are written as Python floats, which JSON
carries without loss).

Schema, version 1::

    {
      "format": "edgeasr.lattice",
      "version": 1,
      "frame_shift": 0.04,                   # seconds per encoder step; every time is a multiple of it
      "start": 0,                            # start node id
      "finals": [21, 22],                    # final node ids (final weight 0), at least one
      "num_paths": 34,                       # derived (start-to-final paths); ignored when read
      "nodes": [{"id": 0, "time": 0.0}, ...],               # ids 0..N-1 in topological order
      "arcs": [{"from": 0, "to": 1, "word": "computer",     # from < to; "" only on a path without words
                "start": 0.2, "end": 0.24,                  # seconds: first frame, just after the last one
                "start_frame": 5, "end_frame": 5,           # the same as frames (end_frame is the last frame)
                "acoustic": -0.0813, "bias": 0.0,           # log-domain scores; arc score = acoustic + bias
                "posterior": 0.5019}, ...]                  # P(arc | lattice) in [0, 1]
    }

When ``start_frame``/``end_frame`` are present they must agree with ``start``/``end``. A reader refuses another
``format`` or a ``version`` it does not know; anything malformed raises :class:`LatticeError`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Union

from edgeasr.lattice.errors import LatticeError
from edgeasr.lattice.graph import to_frame

if TYPE_CHECKING:
    from edgeasr.lattice.graph import Lattice

FORMAT = "edgeasr.lattice"
VERSION = 1


def to_json(lat: "Lattice", indent=None) -> str:
    d = {"format": FORMAT, "version": VERSION, **lat.to_dict()}
    return json.dumps(d, indent=indent, allow_nan=False, ensure_ascii=False)


def from_json(text: Union[str, bytes, bytearray]) -> "Lattice":
    from edgeasr.lattice.graph import Lattice

    if not isinstance(text, (str, bytes, bytearray)):
        raise LatticeError(f"json: expected str or bytes, got {type(text).__name__}")
    try:
        d = json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise LatticeError(f"json: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise LatticeError(f"json: expected an object, got {type(d).__name__}")
    if d.get("format") != FORMAT:
        raise LatticeError(f"format: expected {FORMAT!r}, got {d.get('format')!r}")
    if d.get("version") != VERSION:
        raise LatticeError(f"version: this reader knows version {VERSION}, got {d.get('version')!r}")
    if "frame_shift" not in d:
        raise LatticeError("frame_shift: missing")
    lat = Lattice.from_dict(d)  # checks types and values; what is left is whether the frames agree
    for k, a in enumerate(d["arcs"]):
        if "start_frame" in a and a["start_frame"] != to_frame(a["start"], lat.frame_shift, f"arcs[{k}].start"):
            raise LatticeError(f"arcs[{k}].start_frame: {a['start_frame']!r} disagrees with start {a['start']!r}")
        if "end_frame" in a and a["end_frame"] != to_frame(a["end"], lat.frame_shift, f"arcs[{k}].end") - 1:
            raise LatticeError(f"arcs[{k}].end_frame: {a['end_frame']!r} disagrees with end {a['end']!r}")
    return lat
