"""The wire format: exact round trips (structure, words, frames; scores within the quantum), and every malformed
message (truncated anywhere, bit flips, hostile counts and varints, wrong magic or version) refused with
LatticeError, quickly and without large allocations."""

import struct
import time
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeasr import Recognizer, RecognizerConfig, load_audio
from edgeasr.lattice import Arc, Lattice, LatticeError, Node
from edgeasr.lattice import wire
from edgeasr.recognizer import default_model_path

DATA = default_model_path().parent
FS = 0.04


@pytest.fixture(scope="module")
def real():
    rec = Recognizer(config=RecognizerConfig(beam=4))
    out = []
    for name, context in [("example.wav", None), ("example_contact.wav", None),
                          ("example_contact.wav", [("siobhan oyelaran", 2.0)])]:
        samples, rate = load_audio(DATA / name)
        s = rec.transcribe(samples, rate, context=context)
        out.append((s.result().text, s.lattice(), samples.size / rate))
    return out


@st.composite
def lattices(draw):
    n = draw(st.integers(1, 14))
    frames = draw(st.lists(st.integers(0, 5000), min_size=n, max_size=n))
    nodes = [Node(i, f * FS) for i, f in enumerate(frames)]
    arcs = []
    words = st.sampled_from(["", "a", "kitchen", "lights", "siobhan", "naïve", "日本"])
    scores = st.floats(-60.0, 0.0, allow_nan=False)
    bias = st.one_of(st.just(0.0), st.floats(-10.0, 10.0, allow_nan=False))
    for _ in range(draw(st.integers(0, 30)) if n > 1 else 0):
        s = draw(st.integers(0, n - 2))
        d = draw(st.integers(s + 1, n - 1))
        a = draw(st.integers(0, 6000))
        arcs.append(Arc(s, d, draw(words), a * FS, (a + draw(st.integers(0, 50))) * FS, draw(scores), draw(bias),
                        draw(st.floats(0.0, 1.0))))
    finals = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    start = draw(st.integers(0, n - 1))
    fs = draw(st.sampled_from([FS, 0.01, 0.03, 1 / 3]))
    nodes = [Node(v.id, round(v.time / FS) * fs) for v in nodes]
    arcs = [Arc(a.src, a.dst, a.word, round(a.start / FS) * fs, round(a.end / FS) * fs, a.acoustic, a.bias,
                a.posterior) for a in arcs]
    return Lattice(nodes, arcs, start, finals, fs)


def check_round_trip(lat: Lattice) -> bytes:
    b = lat.to_bytes()
    back = Lattice.from_bytes(b)
    assert back.to_bytes() == b
    assert back.frame_shift == lat.frame_shift
    assert back.node_frames == lat.node_frames and back.arc_frames == lat.arc_frames
    assert [v.time for v in back.nodes] == [v.time for v in lat.nodes]
    assert (back.start, back.finals) == (lat.start, lat.finals)
    assert [(a.src, a.dst, a.word, a.start, a.end) for a in back.arcs] == \
        [(a.src, a.dst, a.word, a.start, a.end) for a in lat.arcs]
    for a, x in zip(lat.arcs, back.arcs):
        assert abs(a.acoustic - x.acoustic) <= wire.STEP / 2 and abs(a.bias - x.bias) <= wire.STEP / 2
    return b


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lattices())
def test_round_trip_is_exact(lat):
    check_round_trip(lat)


def test_real_lattices_round_trip_and_keep_their_best_path(real):
    for text, lat, _ in real:
        b = check_round_trip(lat)
        back = Lattice.from_bytes(b)
        assert back.text() == text
        # Posteriors are recomputed from the quantized scores: close to the recognizer's.
        assert max(abs(a.posterior - x.posterior) for a, x in zip(lat.arcs, back.arcs)) < 0.01
        wired = lat.for_wire()
        assert Lattice.from_bytes(wired.to_bytes()).text() == text


def test_wire_is_small_against_the_audio(real):
    # The target: at most 2 % of the utterance's 16-bit PCM; bench/lattice_size.py measures it on held-out clips.
    for _, lat, seconds in real:
        pcm = seconds * 16000 * 2
        assert len(lat.for_wire().to_bytes()) <= 0.02 * pcm
        assert len(lat.to_bytes()) < len(lat.to_json()) / 10


@pytest.fixture(scope="module")
def wide():
    """A beam-16 lattice of the contact clip without the n-gram LM (which narrows it): far more alternatives than
    the wire budget lets through."""
    samples, rate = load_audio(DATA / "example_contact.wav")
    s = Recognizer(config=RecognizerConfig(beam=16), lm=None).transcribe(samples, rate)
    return s.result().text, s.lattice()


def test_wire_budget_prunes_to_the_bytes_per_second_it_allows(wide):
    import math

    from edgeasr.lattice.prune import span_seconds

    text, lat = wide
    unlimited = lat.for_wire(max_bytes_per_second=math.inf)
    seconds = span_seconds(lat)
    assert seconds > 1.0
    full = len(unlimited.to_bytes())
    for rate in (full / seconds / 2, full / seconds / 4, 200.0):
        sent = lat.for_wire(max_bytes_per_second=rate)
        n = len(sent.to_bytes())
        assert n <= rate * seconds < full
        assert len(sent.arcs) < len(unlimited.arcs)
        assert Lattice.from_bytes(sent.to_bytes()).text() == text   # the best path always goes
    # A budget the lattice already fits changes nothing; one nothing fits leaves the best path alone.
    assert lat.for_wire(max_bytes_per_second=full / seconds + 1).to_bytes() == unlimited.to_bytes()
    alone = lat.for_wire(max_bytes_per_second=1e-3)
    assert alone.text() == text and len(alone.nbest(5)) == 1


@pytest.mark.parametrize("rate", [0, -1.0, float("nan"), True, "480"])
def test_wire_budget_must_be_a_positive_number(real, rate):
    with pytest.raises(LatticeError, match="max_bytes_per_second"):
        real[0][1].for_wire(max_bytes_per_second=rate)


def test_every_truncation_and_extension_is_refused(real):
    for _, lat, _ in real:
        b = lat.to_bytes()
        for cut in range(len(b)):
            with pytest.raises(LatticeError):
                Lattice.from_bytes(b[:cut])
        with pytest.raises(LatticeError):
            Lattice.from_bytes(b + b"\x00")


def test_every_single_bit_flip_is_refused(real):
    b = real[1][1].to_bytes()
    for i in range(len(b)):
        for bit in range(8):
            flipped = bytearray(b)
            flipped[i] ^= 1 << bit
            with pytest.raises(LatticeError):
                Lattice.from_bytes(bytes(flipped))


def seal(body: bytes) -> bytes:
    """A message with a correct checksum: what an attacker (not noise) could send."""
    return body + struct.pack("<I", zlib.crc32(body))


def varint(u: int) -> bytes:
    out = bytearray()
    wire._put(out, u)
    return bytes(out)


def z(n: int) -> bytes:
    return varint(wire._zigzag(n))


def message(words=(b"a",), frames=(0, 3), start=0, finals=(1,), arcs=((0, 0, 0, 0, 1, -2),), flags=None,
            word_count=None, node_count=None, arc_count=None) -> bytes:
    """A message body built field by field (arcs: src delta, dst - src - 1, word, start offset, duration,
    quantized acoustic); the keyword arguments make one field hostile."""
    b = wire.MAGIC + bytes([wire.VERSION]) + varint(wire.FLAG_MICROSECONDS if flags is None else flags)
    b += varint(40000)
    b += varint(len(words) if word_count is None else word_count) + b"".join(varint(len(w)) + w for w in words)
    b += varint(len(frames) if node_count is None else node_count)
    prev = 0
    for f in frames:
        b += z(f - prev)
        prev = f
    b += varint(start) + varint(len(finals))
    prev = 0
    for f in finals:
        b += z(f - prev)
        prev = f
    b += varint(len(arcs) if arc_count is None else arc_count)
    for src, dst, w, s, d, ac in arcs:
        b += varint(src) + varint(dst) + varint(w) + z(s) + varint(d) + z(ac)
    return b


def test_hostile_messages_with_valid_checksums_are_refused_cheaply():
    ok = Lattice.from_bytes(seal(message()))  # the well-formed base message every case below breaks one way
    assert [(a.src, a.dst, a.word) for a in ok.arcs] == [(0, 1, "a")] and ok.arcs[0].acoustic == -2 * wire.STEP
    assert ok.node_frames == (0, 3) and ok.frame_shift == 0.04
    cases = {
        "cannot fit": message(word_count=2 ** 62),
        "cannot fit ": message(node_count=10 ** 12),
        "cannot fit  ": message(arc_count=10 ** 9),
        "longer than 64 bits": message()[:12] + b"\xff" * 20,
        "bytes long": message(words=(b"a" * 5000,)),
        "not UTF-8": message(words=(b"\xff\xfe",)),
        "outside": message(frames=(0, 2 ** 40)),
        "outside ": message(frames=(0, -1)),
        "start": message(start=5),
        "finals": message(finals=(1, 1)),
        "finals ": message(finals=(7,)),
        "unknown flags": message(flags=64 | wire.FLAG_MICROSECONDS),
        "does not exist": message(arcs=((0, 5, 0, 0, 1, -2),)),
        "does not exist ": message(arcs=((0, 0, 7, 0, 1, -2),)),
        "too large": message(arcs=((0, 0, 0, 0, 1, -2 ** 61),)),
        "whitespace": message(words=(b"two words",)),
        "after the last arc": message() + b"\x00",
        "truncated|cannot fit": message()[:-1],
        "frame shift": message(flags=0)[:6] + struct.pack("<d", float("nan")) + message()[9:],
    }
    tracemalloc.start()
    for reason, body in cases.items():
        t = time.perf_counter()
        with pytest.raises(LatticeError, match=reason.strip()):
            Lattice.from_bytes(seal(body))
        assert time.perf_counter() - t < 0.1, reason
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


def test_wrong_magic_version_and_types():
    b = Lattice([Node(0, 0.0)], [], 0, [0], FS).to_bytes()
    with pytest.raises(LatticeError, match="magic"):
        Lattice.from_bytes(b"XXXX" + b[4:])
    with pytest.raises(LatticeError, match="version"):
        Lattice.from_bytes(seal(b[:4] + bytes([9]) + b[5:-4]))
    with pytest.raises(LatticeError):
        Lattice.from_bytes("not bytes")
    assert Lattice.from_bytes(bytearray(b)) == Lattice.from_bytes(memoryview(b))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_refused_or_read(data):
    try:
        lat = Lattice.from_bytes(data)
    except LatticeError:
        return
    assert lat.to_bytes() == data or Lattice.from_bytes(lat.to_bytes()) == lat


@settings(max_examples=200, deadline=None)
@given(lattices(), st.data())
def test_hostile_edits_with_fixed_checksums_are_refused_or_read(lat, data):
    b = bytearray(lat.to_bytes()[:-4])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    try:
        back = Lattice.from_bytes(seal(bytes(b)))
    except LatticeError:
        return
    back.validate()
