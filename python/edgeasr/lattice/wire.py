"""The compact bytes a device sends: a lattice in a few hundred bytes, checked end to end.

Layout (all integers are LEB128 varints, unsigned unless marked zigzag; "z" = zigzag-coded signed)::

    magic      4 bytes  b"EALT"
    version    1 byte   1
    flags      varint   bit 0: arcs carry a bias field; bit 1: frame shift in whole microseconds (else float64)
    frame shift         varint microseconds, or 8 bytes little-endian float64
    words      varint count, then per word: varint byte length, UTF-8 bytes   (the message's own word table)
    nodes      varint count, then per node: z(frame - previous node's frame)
    start      varint node id
    finals     varint count, then per final: z(id - previous final id)   (order kept: it breaks best-path ties)
    arcs       varint count, then per arc, in (src, dst) order:
                 src - previous arc's src,  dst - src - 1,  word index,
                 z(first frame - src node's frame),  frames covered (end - start),
                 z(round(acoustic / STEP)),  [z(round(bias / STEP)) when flag bit 0]
    crc32      4 bytes little-endian, over everything before it

Precision: frames, structure and words are exact. Scores are quantized to ``STEP`` = 2**-8 nats, so each arc's
acoustic and bias part is within STEP / 2 ≈ 0.002 of the original (a path of L arcs within L * STEP / 2), and a
dequantized score re-quantizes to itself, so ``from_bytes(b).to_bytes() == b``. Posteriors are not sent: the
reader recomputes them by forward-backward over the dequantized scores. Two paths whose scores differ by less than
the quantization error may swap places.

Before sending, a device prunes with :meth:`Lattice.for_wire` (posterior >= 1e-3, at most 300 arcs, at most
480 bytes per second of audio); bench/lattice_size.py measures the size that gives against the audio it replaces.

Every malformed message raises LatticeError. Corruption fails the CRC (CRC-32 catches every burst of up to 32
bits, every error of up to 3 bits in messages under 11 kB, and other corruption with probability 1 - 2**-32);
messages built to pass it are checked field by field: magic and version, truncation, varints longer than 64 bits,
counts larger than the bytes left could hold (checked before anything is allocated), indices and frames out of
range, trailing bytes, then every rule of Lattice.validate.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import TYPE_CHECKING, Union

from edgeasr.lattice.errors import LatticeError
from edgeasr.lattice.graph import MAX_FRAME

if TYPE_CHECKING:
    from edgeasr.lattice.graph import Lattice

MAGIC = b"EALT"
VERSION = 1
STEP = 2.0 ** -8               # score quantum, nats
FLAG_BIAS = 1
FLAG_MICROSECONDS = 2
MAX_WORD_BYTES = 1024          # a word longer than this is not a word
MAX_QUANTUM = 2 ** 40          # |score| < 2**32 nats; anything larger is not a log-probability
MIN_ARC_BYTES = 6              # src, dst, word, start, duration, acoustic: one byte each at least
HEADER = len(MAGIC) + 1
CRC_BYTES = 4


def _zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzigzag(u: int) -> int:
    return u >> 1 if not u & 1 else -((u + 1) >> 1)


def _put(out: bytearray, u: int) -> None:
    if u < 0:
        raise LatticeError(f"wire: cannot write a negative varint ({u})")
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)


def _quantize(x: float, what: str) -> int:
    q = round(x / STEP)
    if abs(q) >= MAX_QUANTUM:
        raise LatticeError(f"{what}: {x!r} is too large to send")
    return q


def to_bytes(lat: "Lattice") -> bytes:
    acoustic = [_quantize(a.acoustic, f"arcs[{k}].acoustic") for k, a in enumerate(lat.arcs)]
    bias = [_quantize(a.bias, f"arcs[{k}].bias") for k, a in enumerate(lat.arcs)]
    flags = FLAG_BIAS if any(bias) else 0
    micros = round(lat.frame_shift * 1e6)
    if micros > 0 and micros / 1e6 == lat.frame_shift:
        flags |= FLAG_MICROSECONDS
    out = bytearray(MAGIC)
    out.append(VERSION)
    _put(out, flags)
    if flags & FLAG_MICROSECONDS:
        _put(out, micros)
    else:
        out += struct.pack("<d", lat.frame_shift)
    index: dict[str, int] = {}
    for a in lat.arcs:
        index.setdefault(a.word, len(index))
    _put(out, len(index))
    for word in index:
        raw = word.encode("utf-8")
        if len(raw) > MAX_WORD_BYTES:
            raise LatticeError(f"word: {word[:20]!r}... is longer than {MAX_WORD_BYTES} bytes")
        _put(out, len(raw))
        out += raw
    frames = lat.node_frames
    _put(out, len(frames))
    prev = 0
    for f in frames:
        _put(out, _zigzag(f - prev))
        prev = f
    _put(out, lat.start)
    _put(out, len(lat.finals))
    prev = 0
    for f in lat.finals:
        _put(out, _zigzag(f - prev))
        prev = f
    _put(out, len(lat.arcs))
    prev = 0
    for k, (a, (s, e)) in enumerate(zip(lat.arcs, lat.arc_frames)):
        _put(out, a.src - prev)
        prev = a.src
        _put(out, a.dst - a.src - 1)
        _put(out, index[a.word])
        _put(out, _zigzag(s - frames[a.src]))
        _put(out, e - s)
        _put(out, _zigzag(acoustic[k]))
        if flags & FLAG_BIAS:
            _put(out, _zigzag(bias[k]))
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes, end: int):
        self.data, self.pos, self.end = data, HEADER, end

    def left(self) -> int:
        return self.end - self.pos

    def varint(self, what: str) -> int:
        u = shift = 0
        while True:
            if self.pos >= self.end:
                raise LatticeError(f"wire: truncated in {what}")
            b = self.data[self.pos]
            self.pos += 1
            u |= (b & 0x7F) << shift
            if not b & 0x80:
                return u
            shift += 7
            if shift >= 64:
                raise LatticeError(f"wire: {what} is a varint longer than 64 bits")

    def signed(self, what: str) -> int:
        return _unzigzag(self.varint(what))

    def count(self, what: str, min_bytes: int) -> int:
        n = self.varint(what)
        if n * min_bytes > self.left():
            raise LatticeError(f"wire: {what} {n} cannot fit in the {self.left()} bytes left")
        return n

    def take(self, n: int, what: str) -> bytes:
        if n > self.left():
            raise LatticeError(f"wire: truncated in {what}")
        self.pos += n
        return self.data[self.pos - n:self.pos]


def _frame(f: int, what: str) -> int:
    if not 0 <= f <= MAX_FRAME:
        raise LatticeError(f"wire: {what} frame {f} is outside [0, {MAX_FRAME}]")
    return f


def from_bytes(data: Union[bytes, bytearray, memoryview]) -> "Lattice":
    from edgeasr.lattice.graph import Arc, Lattice, Node
    from edgeasr.lattice.prune import with_posteriors

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LatticeError(f"wire: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER + CRC_BYTES:
        raise LatticeError(f"wire: {len(data)} bytes is shorter than the header and checksum")
    if data[:len(MAGIC)] != MAGIC:
        raise LatticeError(f"wire: not a lattice message (magic {data[:len(MAGIC)]!r}, expected {MAGIC!r})")
    if data[len(MAGIC)] != VERSION:
        raise LatticeError(f"wire: version {data[len(MAGIC)]}, this reader knows version {VERSION}")
    body_end = len(data) - CRC_BYTES
    (crc,) = struct.unpack("<I", data[body_end:])
    if zlib.crc32(data[:body_end]) != crc:
        raise LatticeError("wire: checksum mismatch (the message is corrupted or truncated)")
    r = _Reader(data, body_end)
    flags = r.varint("flags")
    if flags & ~(FLAG_BIAS | FLAG_MICROSECONDS):
        raise LatticeError(f"wire: unknown flags {flags:#x}")
    if flags & FLAG_MICROSECONDS:
        frame_shift = r.varint("frame shift") / 1e6
    else:
        (frame_shift,) = struct.unpack("<d", r.take(8, "frame shift"))
    if not (math.isfinite(frame_shift) and frame_shift > 0):
        raise LatticeError(f"wire: frame shift {frame_shift!r} is not a positive number of seconds")
    words = []
    for i in range(r.count("word count", 1)):
        n = r.varint("word length")
        if n > MAX_WORD_BYTES:
            raise LatticeError(f"wire: word {i} is {n} bytes long (at most {MAX_WORD_BYTES})")
        try:
            words.append(r.take(n, "word").decode("utf-8"))
        except UnicodeDecodeError:
            raise LatticeError(f"wire: word {i} is not UTF-8") from None
    n_nodes = r.count("node count", 1)
    frames = []
    f = 0
    for i in range(n_nodes):
        f = _frame(f + r.signed("node frame"), f"node {i}")
        frames.append(f)
    start = r.varint("start")
    finals = []
    v = 0
    for _ in range(r.count("final count", 1)):
        v += r.signed("final")
        finals.append(v)
    n_arcs = r.count("arc count", MIN_ARC_BYTES)
    arcs = []
    src = 0
    fs = frame_shift
    for k in range(n_arcs):
        src += r.varint("arc src")
        dst = src + 1 + r.varint("arc dst")
        w = r.varint("arc word")
        if not (src < n_nodes and dst < n_nodes and w < len(words)):
            raise LatticeError(f"wire: arc {k} refers to node {max(src, dst)} or word {w} that does not exist")
        s = _frame(frames[src] + r.signed("arc start"), f"arc {k} start")
        e = _frame(s + r.varint("arc duration"), f"arc {k} end")
        acoustic = r.signed("arc acoustic")
        bias = r.signed("arc bias") if flags & FLAG_BIAS else 0
        if abs(acoustic) >= MAX_QUANTUM or abs(bias) >= MAX_QUANTUM:
            raise LatticeError(f"wire: arc {k} has a score too large to be a log-probability")
        arcs.append(Arc(src, dst, words[w], s * fs, e * fs, acoustic * STEP, bias * STEP, 0.0))
    if r.left():
        raise LatticeError(f"wire: {r.left()} bytes after the last arc")
    nodes = [Node(i, f * fs) for i, f in enumerate(frames)]
    return with_posteriors(Lattice(nodes, arcs, start, finals, frame_shift))
