"""The Lattice object: rules, dict round trip, best path, N-best, pruning, posteriors; on hand-made lattices with
known answers and on real ones from the bundled model."""

import itertools
import math

import pytest

from edgeasr import Recognizer, load_audio
from edgeasr.lattice import Arc, Lattice, LatticeError, Node
from edgeasr.recognizer import RecognizerConfig, default_model_path

DATA = default_model_path().parent
FS = 0.04


def arc(src, dst, word, score, start=0, end=1, bias=0.0):
    return Arc(src, dst, word, start * FS, end * FS, score - bias, bias, 0.0)


def diamond() -> Lattice:
    """0 -a-> 1 -c-> 3, 0 -b-> 2 -c-> 3, 1 -d-> 3, with scores that make (b, c) the best, then (a, d), (a, c)."""
    nodes = [Node(i, i * FS) for i in range(4)]
    arcs = [arc(0, 1, "a", -1.0), arc(0, 2, "b", -0.5, bias=0.25), arc(1, 3, "c", -2.0), arc(1, 3, "d", -0.8),
            arc(2, 3, "c", -1.0)]
    return Lattice(nodes, arcs, 0, [3], FS)


def all_paths(lat: Lattice):
    """Every start-to-final path by brute force: (words, score)."""
    out = []

    def walk(v, words, score):
        if v in lat.finals:
            out.append((tuple(words), score))
        for a in lat.arcs:
            if a.src == v:
                walk(a.dst, words + ([a.word] if a.word else []), score + a.score)
    walk(lat.start, [], 0.0)
    return out


def test_a_diamond_has_known_best_path_nbest_and_posteriors():
    lat = diamond()
    assert lat.text() == "b c"
    assert [a.word for a in lat.best_path()] == ["b", "c"]
    assert lat.num_paths() == 3
    nb = lat.nbest(10)
    assert [p.words for p in nb] == [("b", "c"), ("a", "d"), ("a", "c")]
    assert [p.score for p in nb] == pytest.approx([-1.5, -1.8, -3.0])
    assert nb[0].bias == pytest.approx(0.25) and nb[0].acoustic == pytest.approx(-1.75)
    post = lat.posteriors()
    z = math.exp(-1.5) + math.exp(-1.8) + math.exp(-3.0)
    assert post[0] == pytest.approx((math.exp(-1.8) + math.exp(-3.0)) / z)  # arc a
    assert post[1] == pytest.approx(math.exp(-1.5) / z)                      # arc b
    assert lat.nbest(1)[0].words == ("b", "c")


def test_nbest_keeps_distinct_word_sequences_only():
    # Two arcs with the same word between the same nodes (different end frames), and an empty-word arc.
    nodes = [Node(i, i * FS) for i in range(4)]
    arcs = [arc(0, 1, "x", -1.0), arc(0, 1, "x", -1.5, end=2), arc(0, 2, "", -3.0), arc(1, 3, "y", -0.1),
            arc(2, 3, "y", -0.1), arc(1, 2, "", -0.2)]
    lat = Lattice(nodes, arcs, 0, [2, 3], FS)
    nb = lat.nbest(10)
    want = {}
    for words, score in all_paths(lat):
        want[words] = max(want.get(words, -math.inf), score)
    assert [p.words for p in nb] == sorted(want, key=lambda w: -want[w])
    assert [p.score for p in nb] == pytest.approx(sorted(want.values(), reverse=True))
    assert len({p.words for p in nb}) == len(nb)


@pytest.mark.parametrize("seed", range(20))
def test_random_dags_agree_with_brute_force(seed):
    import random

    rng = random.Random(seed)
    n = rng.randint(2, 7)
    nodes = [Node(i, i * FS) for i in range(n)]
    arcs = [Arc(s, d, rng.choice(["a", "b", "c", ""]), s * FS, d * FS, round(rng.uniform(-4, 0), 3),
                rng.choice([0.0, 0.5]), 0.0)
            for s, d in itertools.combinations(range(n), 2) if rng.random() < 0.6]
    finals = sorted(rng.sample(range(1, n), rng.randint(1, n - 1)))
    lat = Lattice(nodes, arcs, 0, finals, FS)
    paths = all_paths(lat)
    assert lat.num_paths() == len(paths)
    if paths:
        assert sum(a.score for a in lat.best_path()) == pytest.approx(max(s for _, s in paths))
    best = {}
    for words, score in paths:
        best[words] = max(best.get(words, -math.inf), score)
    nb = lat.nbest(5)
    assert [p.score for p in nb] == pytest.approx(sorted(best.values(), reverse=True)[:5])
    for p in nb:
        assert best[p.words] == pytest.approx(p.score)
        assert p.score == pytest.approx(sum(a.score for a in p.arcs))
    # Posteriors: the arcs leaving the start carry all the mass that reaches a final.
    post = lat.posteriors()
    if paths:
        out = sum(p for a, p in zip(lat.arcs, post) if a.src == 0) + (1 if 0 in finals else 0) * math.exp(0) / \
            sum(math.exp(s) for _, s in paths)
        assert out == pytest.approx(1.0)


def test_the_rules_are_checked():
    good = diamond()
    nodes, arcs = list(good.nodes), list(good.arcs)
    bad = [
        (dict(nodes=[]), "at least one node"),
        (dict(nodes=[Node(0, 0.0), Node(2, FS)]), "without gaps"),
        (dict(start=7), "start"),
        (dict(finals=[]), "finals"),
        (dict(finals=[3, 3]), "repeated"),
        (dict(finals=[9]), "finals"),
        (dict(arcs=arcs + [arc(3, 1, "z", -1.0)]), "topological"),
        (dict(arcs=arcs + [arc(1, 1, "z", -1.0)]), "topological"),
        (dict(arcs=arcs + [Arc(0, 1, "z", 0.0, FS, math.nan, 0.0, 0.5)]), "acoustic"),
        (dict(arcs=arcs + [Arc(0, 1, "z", 0.0, FS, -1.0, math.inf, 0.5)]), "bias"),
        (dict(arcs=arcs + [Arc(0, 1, "z", 0.0, FS, -1.0, 0.0, 1.5)]), "posterior"),
        (dict(arcs=arcs + [Arc(0, 1, "z", 0.0, FS, -1.0, 0.0, -0.1)]), "posterior"),
        (dict(arcs=arcs + [Arc(0, 1, "two words", 0.0, FS, -1.0, 0.0, 0.1)]), "whitespace"),
        (dict(arcs=arcs + [Arc(0, 1, "z", 0.013, FS, -1.0, 0.0, 0.1)]), "multiple of the frame shift"),
        (dict(arcs=arcs + [Arc(0, 1, "z", 2 * FS, FS, -1.0, 0.0, 0.1)]), "start <= end"),
        (dict(frame_shift=0.0), "frame_shift"),
        (dict(frame_shift=math.nan), "frame_shift"),
    ]
    for change, message in bad:
        kw = dict(nodes=nodes, arcs=arcs, start=0, finals=[3], frame_shift=FS) | change
        with pytest.raises(LatticeError, match=message):
            Lattice(**kw)
    assert issubclass(LatticeError, ValueError)


def test_numpy_numbers_are_taken_as_plain_ones():
    import numpy as np

    lat = Lattice([Node(np.int64(0), np.float32(0.0)), Node(np.int32(1), FS)],
                  [Arc(np.int64(0), np.int64(1), "a", 0.0, FS, np.float32(-1.5), 0.0, np.float64(1.0))],
                  0, np.array([1]), FS)
    assert type(lat.nodes[1].id) is int and type(lat.arcs[0].acoustic) is float and lat.finals == (1,)
    assert lat == Lattice([Node(0, 0.0), Node(1, FS)], [Arc(0, 1, "a", 0.0, FS, -1.5, 0.0, 1.0)], 0, [1], FS)


def test_dict_round_trip_and_malformed_dicts():
    lat = diamond()
    d = lat.to_dict()
    assert d["num_paths"] == 3 and d["arcs"][0]["end_frame"] == 0 and d["frame_shift"] == FS
    assert Lattice.from_dict(d) == lat
    del d["frame_shift"]
    assert Lattice.from_dict(d, frame_shift=FS) == lat
    for broken in [None, [], {"nodes": []}, dict(lat.to_dict(), arcs=[{"from": 0}]),
                   dict(lat.to_dict(), nodes=[{"id": 0}]), dict(lat.to_dict(), finals="3")]:
        with pytest.raises(LatticeError):
            Lattice.from_dict(broken)


def test_prune_keeps_the_best_path_drops_dead_ends_and_renormalizes():
    lat = diamond()
    only_best = lat.prune(min_posterior=1.0)
    assert [a.word for a in only_best.arcs] == ["b", "c"]
    assert len(only_best.nodes) == 3 and [a.posterior for a in only_best.arcs] == [1.0, 1.0]
    assert only_best.text() == lat.text() and only_best.finals == (2,)
    assert [v.time for v in only_best.nodes] == [0.0, 2 * FS, 3 * FS]  # node 1 is gone, times stay
    capped = lat.prune(max_arcs=4)  # b, c and the next most probable arcs: a (0.49), d (0.38)
    assert [a.word for a in capped.arcs] == ["a", "b", "d", "c"] and capped.text() == lat.text()
    assert lat.prune(max_arcs=3) == only_best  # a alone would be a dead end; a and d are one arc too many
    assert sum(a.posterior for a in capped.arcs if a.src == capped.start) == pytest.approx(1.0)
    assert lat.prune() == lat.prune(0.0, None)
    assert len(lat.prune().arcs) == len(lat.arcs)
    for bad in [dict(min_posterior=2.0), dict(max_arcs=-1), dict(max_arcs=1.5)]:
        with pytest.raises(LatticeError):
            lat.prune(**bad)


def test_an_empty_decode_is_a_one_node_lattice():
    lat = Recognizer().create_stream().lattice()
    assert len(lat.nodes) == 1 and lat.finals == (0,) and lat.text() == "" and lat.best_path() == []
    assert lat.num_paths() == 1 and lat.nbest(3)[0].words == () and len(lat.nbest(3)) == 1


@pytest.fixture(scope="module")
def real_lattices():
    rec = Recognizer(config=RecognizerConfig(beam=4))
    out = []
    for name in ("example.wav", "example_contact.wav"):
        samples, rate = load_audio(DATA / name)
        stream = rec.transcribe(samples, rate)
        out.append((stream.result().text, stream.lattice()))
    samples, rate = load_audio(DATA / "example_contact.wav")
    stream = rec.transcribe(samples, rate, context=["siobhan oyelaran"])
    out.append((stream.result().text, stream.lattice()))
    return out


def test_real_lattices_best_path_is_the_recognizers_text(real_lattices):
    for text, lat in real_lattices:
        assert text and lat.text() == text
        assert lat.nbest(1)[0].text == text
        assert lat.nbest(1)[0].score == pytest.approx(sum(a.score for a in lat.best_path()))
        assert max(abs(a - b.posterior) for a, b in zip(lat.posteriors(), lat.arcs)) < 1e-5
        assert Lattice.from_dict(lat.to_dict()) == lat
        old = lat.to_dict()  # the dict Stream.lattice() used to return: no frame_shift, which frames imply
        del old["frame_shift"]
        assert Lattice.from_dict(old) == lat
        pruned = lat.prune(min_posterior=0.05)
        assert pruned.text() == text and len(pruned.arcs) <= len(lat.arcs)
        assert sum(a.posterior for a in pruned.arcs if a.src == pruned.start) == pytest.approx(1.0)
        assert all(a.src < a.dst for a in pruned.arcs)
