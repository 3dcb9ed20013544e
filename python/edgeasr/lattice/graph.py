"""The word lattice as a value: nodes in topological order, arcs labelled with one word each, times on a frame grid.

A :class:`Lattice` is immutable and always valid (the constructor runs :meth:`Lattice.validate`). Times are
multiples of ``frame_shift`` (seconds per encoder step) and kept as integer frames inside, so every format that
writes frames (the wire, JSON) gives back bit-identical times. Arcs are kept sorted by (src, dst), stable.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from edgeasr.lattice.errors import LatticeError

__all__ = ["Node", "Arc", "Path", "Lattice"]

# How far a time may sit from the frame grid and still be taken as that frame (float noise, not a real offset).
TIME_TOLERANCE = 1e-6
# Frames fit in 32 bits everywhere (the native search counts them in int32).
MAX_FRAME = 2**31 - 1


@dataclass(frozen=True)
class Node:
    id: int
    time: float      # seconds: frames consumed when the node is reached


@dataclass(frozen=True)
class Arc:
    src: int
    dst: int         # src < dst: node ids are a topological order
    word: str        # "" only on an arc through an utterance without words
    start: float     # seconds: the word's first frame
    end: float       # seconds: just after its last frame
    acoustic: float  # log-probability of the tokens and blanks the arc covers
    bias: float      # biasing bonus collected on the arc
    posterior: float  # P(arc | lattice) in [0, 1]

    @property
    def score(self) -> float:
        return self.acoustic + self.bias


@dataclass(frozen=True)
class Path:
    """One start-to-final path: its words ("" skipped), summed scores and the arcs it takes."""
    words: tuple[str, ...]
    acoustic: float
    bias: float
    arcs: tuple[Arc, ...]

    @property
    def score(self) -> float:
        return self.acoustic + self.bias

    @property
    def text(self) -> str:
        return " ".join(self.words)


def to_frame(seconds: float, frame_shift: float, what: str) -> int:
    ratio = seconds / frame_shift
    if not math.isfinite(ratio) or abs(ratio) > MAX_FRAME:
        raise LatticeError(f"{what}: {seconds!r} s is more than {MAX_FRAME} frames of {frame_shift!r} s")
    frame = round(ratio)
    if abs(frame * frame_shift - seconds) > TIME_TOLERANCE:
        raise LatticeError(f"{what}: {seconds!r} s is not a multiple of the frame shift {frame_shift!r} s")
    return int(frame)


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)  # numpy integers too


def _is_num(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Lattice:
    """A word lattice (see the module docstring). Build one from nodes and arcs, :meth:`from_dict`, or a reader:
    :meth:`from_json`, :meth:`from_bytes`, :meth:`from_htk_slf`."""

    __slots__ = ("nodes", "arcs", "start", "finals", "frame_shift", "_node_frames", "_arc_frames")

    def __init__(self, nodes: Iterable[Node], arcs: Iterable[Arc], start: int, finals: Iterable[int],
                 frame_shift: float):
        nodes, arcs = list(nodes), list(arcs)
        if all(isinstance(v, Node) and _is_int(v.id) for v in nodes):
            nodes.sort(key=lambda v: v.id)
        if all(isinstance(a, Arc) and _is_int(a.src) and _is_int(a.dst) for a in arcs):
            arcs.sort(key=lambda a: (a.src, a.dst))  # stable: equal (src, dst) keep their order
        self.start = start
        self.finals = tuple(finals) if not isinstance(finals, (str, bytes)) and hasattr(finals, "__iter__") else finals
        self.frame_shift = frame_shift
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.arcs: tuple[Arc, ...] = tuple(arcs)
        self.validate()
        # Snap times to the frame grid: then times are exactly frame * frame_shift, as every reader makes them.
        fs = float(frame_shift)
        self.frame_shift = fs
        self._node_frames = tuple(to_frame(v.time, fs, f"nodes[{v.id}].time") for v in self.nodes)
        self._arc_frames = tuple((to_frame(a.start, fs, f"arcs[{k}].start"), to_frame(a.end, fs, f"arcs[{k}].end"))
                                 for k, a in enumerate(self.arcs))
        self.nodes = tuple(Node(int(v.id), f * fs) for v, f in zip(self.nodes, self._node_frames))
        self.arcs = tuple(Arc(int(a.src), int(a.dst), str(a.word), s * fs, e * fs, float(a.acoustic), float(a.bias),
                              float(a.posterior)) for a, (s, e) in zip(self.arcs, self._arc_frames))
        self.start = int(start)
        self.finals = tuple(int(f) for f in self.finals)

    # ---- rules -----------------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise LatticeError naming the first broken rule: node ids 0..N-1, start and finals among them (finals
        unique, at least one), arcs with src < dst (topological), words without whitespace, times on the frame grid
        with start <= end, finite scores, posteriors in [0, 1]."""
        fs = self.frame_shift
        if not _is_num(fs) or not math.isfinite(fs) or fs <= 0:
            raise LatticeError(f"frame_shift: expected a finite number of seconds > 0, got {fs!r}")
        n = len(self.nodes)
        if n == 0:
            raise LatticeError("nodes: a lattice has at least one node (the start)")
        for i, v in enumerate(self.nodes):
            if not isinstance(v, Node):
                raise LatticeError(f"nodes[{i}]: expected a Node, got {type(v).__name__}")
            if not _is_int(v.id) or v.id != i:
                raise LatticeError(f"nodes[{i}].id: node ids must be 0..{n - 1} without gaps, got {v.id!r}")
            if not _is_num(v.time) or not math.isfinite(v.time) or v.time < 0:
                raise LatticeError(f"nodes[{i}].time: expected finite seconds >= 0, got {v.time!r}")
            to_frame(v.time, fs, f"nodes[{i}].time")
        if not _is_int(self.start) or not 0 <= self.start < n:
            raise LatticeError(f"start: expected a node id in [0, {n}), got {self.start!r}")
        if not isinstance(self.finals, tuple) or not self.finals:
            raise LatticeError(f"finals: expected a non-empty list of node ids, got {self.finals!r}")
        for f in self.finals:
            if not _is_int(f) or not 0 <= f < n:
                raise LatticeError(f"finals: {f!r} is not a node id in [0, {n})")
        if len(set(self.finals)) != len(self.finals):
            raise LatticeError(f"finals: repeated node ids in {list(self.finals)}")
        for k, a in enumerate(self.arcs):
            if not isinstance(a, Arc):
                raise LatticeError(f"arcs[{k}]: expected an Arc, got {type(a).__name__}")
            if not (_is_int(a.src) and _is_int(a.dst) and 0 <= a.src < a.dst < n):
                raise LatticeError(f"arcs[{k}]: expected 0 <= src < dst < {n} (ids in topological order), "
                                   f"got src={a.src!r} dst={a.dst!r}")
            if not isinstance(a.word, str) or any(c.isspace() for c in a.word) or not a.word.isprintable():
                raise LatticeError(f"arcs[{k}].word: expected a string without whitespace or control characters, "
                                   f"got {a.word!r}")
            for name in ("start", "end", "acoustic", "bias", "posterior"):
                x = getattr(a, name)
                if not _is_num(x) or not math.isfinite(x):
                    raise LatticeError(f"arcs[{k}].{name}: expected a finite number, got {x!r}")
            if not 0.0 <= a.posterior <= 1.0:
                raise LatticeError(f"arcs[{k}].posterior: expected a probability in [0, 1], got {a.posterior!r}")
            if not 0 <= a.start <= a.end:
                raise LatticeError(f"arcs[{k}]: expected 0 <= start <= end, got start={a.start!r} end={a.end!r}")
            to_frame(a.start, fs, f"arcs[{k}].start")
            to_frame(a.end, fs, f"arcs[{k}].end")

    # ---- frames ----------------------------------------------------------------------------------------------
    @property
    def node_frames(self) -> tuple[int, ...]:
        return self._node_frames

    @property
    def arc_frames(self) -> tuple[tuple[int, int], ...]:
        """Per arc: (first frame, frame just after the last), so ``start = first * frame_shift``."""
        return self._arc_frames

    # ---- equality --------------------------------------------------------------------------------------------
    def _key(self):
        return (self.nodes, self.arcs, self.start, self.finals, self.frame_shift)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lattice) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Lattice({len(self.nodes)} nodes, {len(self.arcs)} arcs, start={self.start}, "
                f"finals={list(self.finals)}, frame_shift={self.frame_shift!r}, best={self.text()!r})")

    # ---- dict (what Stream.lattice() returned before this class) ---------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, frame_shift: Optional[float] = None) -> "Lattice":
        """From ``{"nodes": [{id, time}], "arcs": [{from, to, word, start, end, acoustic, bias, posterior, ...}],
        "start", "finals", "frame_shift"?, "num_paths"?}``. ``frame_shift`` comes from the argument or the dict's
        key; without either it is inferred from arcs that carry ``start_frame`` next to ``start``. ``num_paths``
        is derived, so it is ignored."""
        if not isinstance(d, dict):
            raise LatticeError(f"lattice: expected a dict, got {type(d).__name__}")
        for key in ("nodes", "arcs", "start", "finals"):
            if key not in d:
                raise LatticeError(f"lattice: missing key {key!r}")
        for key in ("nodes", "arcs", "finals"):
            if not isinstance(d[key], list):
                raise LatticeError(f"{key}: expected a list, got {type(d[key]).__name__}")
        if frame_shift is None:
            frame_shift = d.get("frame_shift")
        if frame_shift is None:
            frame_shift = _infer_frame_shift(d["arcs"])
        nodes = []
        for i, v in enumerate(d["nodes"]):
            if not isinstance(v, dict) or "id" not in v or "time" not in v:
                raise LatticeError(f"nodes[{i}]: expected {{'id', 'time'}}, got {v!r}")
            nodes.append(Node(v["id"], v["time"]))
        arcs = []
        for k, a in enumerate(d["arcs"]):
            if not isinstance(a, dict):
                raise LatticeError(f"arcs[{k}]: expected a dict, got {type(a).__name__}")
            missing = [key for key in ("from", "to", "word", "start", "end", "acoustic", "bias", "posterior")
                       if key not in a]
            if missing:
                raise LatticeError(f"arcs[{k}]: missing {', '.join(missing)}")
            arcs.append(Arc(a["from"], a["to"], a["word"], a["start"], a["end"], a["acoustic"], a["bias"],
                            a["posterior"]))
        return cls(nodes, arcs, d["start"], d["finals"], frame_shift)

    def to_dict(self) -> dict:
        """The dict :meth:`from_dict` reads: Stream.lattice()'s former layout plus ``frame_shift``; arcs carry both
        seconds and frames (``end_frame`` is the last frame, so ``end = (end_frame + 1) * frame_shift``)."""
        return {
            "nodes": [{"id": v.id, "time": v.time} for v in self.nodes],
            "arcs": [{"from": a.src, "to": a.dst, "word": a.word, "start_frame": s, "end_frame": e - 1,
                      "acoustic": a.acoustic, "bias": a.bias, "posterior": a.posterior, "start": a.start,
                      "end": a.end} for a, (s, e) in zip(self.arcs, self._arc_frames)],
            "start": self.start,
            "finals": list(self.finals),
            "num_paths": self.num_paths(),
            "frame_shift": self.frame_shift,
        }

    # ---- paths -----------------------------------------------------------------------------------------------
    def best_path(self) -> list[Arc]:
        """The highest-scoring (acoustic + bias) start-to-final path; ties go as the native search breaks them."""
        from edgeasr.lattice.paths import best_path

        return [self.arcs[k] for k in best_path(self)]

    def text(self) -> str:
        return " ".join(a.word for a in self.best_path() if a.word)

    def num_paths(self) -> int:
        """Distinct start-to-final paths (exact; it grows exponentially with length)."""
        from edgeasr.lattice.paths import count_paths

        return count_paths(self)

    def nbest(self, n: int = 4) -> list[Path]:
        """The ``n`` highest-scoring distinct word sequences, best first (fewer when the lattice has fewer)."""
        from edgeasr.lattice.paths import nbest

        return nbest(self, n)

    def posteriors(self) -> list[float]:
        """Arc posteriors recomputed by forward-backward in the log semiring over acoustic + bias."""
        from edgeasr.lattice.posteriors import arc_posteriors

        return arc_posteriors(self)

    def prune(self, min_posterior: float = 0.0, max_arcs: Optional[int] = None) -> "Lattice":
        """Keeps arcs with posterior >= ``min_posterior`` (at most ``max_arcs`` of them, by posterior) and always
        the best path; drops what no longer lies on a start-to-final path, renumbers nodes in topological order
        and recomputes posteriors."""
        from edgeasr.lattice.prune import prune

        return prune(self, min_posterior=min_posterior, max_arcs=max_arcs)

    def for_wire(self, min_posterior: Optional[float] = None, max_arcs: Optional[int] = None,
                 max_bytes_per_second: Optional[float] = None) -> "Lattice":
        """:meth:`prune` with the defaults the device applies before :meth:`to_bytes`, within a byte budget per
        second of audio (edgeasr.lattice.prune.for_wire, edgeasr.lattice.wire)."""
        from edgeasr.lattice.prune import for_wire

        return for_wire(self, min_posterior=min_posterior, max_arcs=max_arcs,
                        max_bytes_per_second=max_bytes_per_second)

    # ---- formats ---------------------------------------------------------------------------------------------
    def to_json(self, **kwargs) -> str:
        from edgeasr.lattice.json_format import to_json

        return to_json(self, **kwargs)

    @classmethod
    def from_json(cls, text) -> "Lattice":
        from edgeasr.lattice.json_format import from_json

        return from_json(text)

    def to_bytes(self) -> bytes:
        from edgeasr.lattice.wire import to_bytes

        return to_bytes(self)

    @classmethod
    def from_bytes(cls, data) -> "Lattice":
        from edgeasr.lattice.wire import from_bytes

        return from_bytes(data)

    def to_openfst_text(self) -> str:
        from edgeasr.lattice.openfst import to_openfst_text

        return to_openfst_text(self)

    def openfst_symbols(self) -> str:
        """The words.txt symbol table that goes with :meth:`to_openfst_text`."""
        from edgeasr.lattice.openfst import symbol_table

        return symbol_table(self)

    def to_htk_slf(self, utterance: str = "utterance", lmscale: float = 1.0) -> str:
        from edgeasr.lattice.htk import to_htk_slf

        return to_htk_slf(self, utterance=utterance, lmscale=lmscale)

    @classmethod
    def from_htk_slf(cls, text: str, frame_shift: Optional[float] = None, node_words: str = "source") -> "Lattice":
        """``node_words``: where a file puts words on nodes, a link carries its source node's word (PocketSphinx)
        or its end node's (``"end"``, HTK's tools)."""
        from edgeasr.lattice.htk import from_htk_slf

        return from_htk_slf(text, frame_shift=frame_shift, node_words=node_words)

    def to_dot(self, title: Optional[str] = None) -> str:
        from edgeasr.lattice.dot import to_dot

        return to_dot(self, title=title)

    def render(self, path, title: Optional[str] = None):
        from edgeasr.lattice.dot import render

        return render(self, path, title=title)


def _infer_frame_shift(arcs: Sequence[Any]) -> float:
    for a in arcs:
        # Rounded to 12 decimals: 0.2 / 5 is 0.04000000000000001, the recognizer's step is 4 * 10 / 1000 = 0.04.
        if isinstance(a, dict) and _is_int(a.get("start_frame")) and _is_num(a.get("start")) and a["start_frame"] > 0:
            return round(a["start"] / a["start_frame"], 12)
        if isinstance(a, dict) and _is_int(a.get("end_frame")) and _is_num(a.get("end")) and a["end_frame"] >= 0:
            return round(a["end"] / (a["end_frame"] + 1), 12)
    raise LatticeError("frame_shift: not given and no arc carries start_frame/end_frame to infer it from")
