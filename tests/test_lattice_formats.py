"""Lattice formats: JSON (versioned), OpenFST text read by kaldifst, HTK SLF both ways, DOT and rendered pictures,
and the transcribe CLI's --lattice-* outputs. Real lattices come from the bundled model on the example clips."""

import json
import random

import kaldifst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeasr import Recognizer, RecognizerConfig, load_audio
from edgeasr.cli import main
from edgeasr.lattice import Arc, Lattice, LatticeError, Node
from edgeasr.recognizer import default_model_path

DATA = default_model_path().parent
CLIPS = ["example.wav", "example_contact.wav"]
FS = 0.04


@pytest.fixture(scope="module")
def real():
    """(recognizer's text, lattice) for the example clips, plain and biased, at beam 4 and 8."""
    out = []
    for beam in (4, 8):
        rec = Recognizer(config=RecognizerConfig(beam=beam))
        for name in CLIPS:
            samples, rate = load_audio(DATA / name)
            s = rec.transcribe(samples, rate)
            out.append((s.result().text, s.lattice()))
        samples, rate = load_audio(DATA / "example_contact.wav")
        s = rec.transcribe(samples, rate, context=[("siobhan oyelaran", 2.0)])
        out.append((s.result().text, s.lattice()))
    return out


def synthetic(seed: int) -> Lattice:
    """A random DAG with several finals, repeated words, empty words and biasing; times on the frame grid."""
    rng = random.Random(seed)
    n = rng.randint(2, 12)
    frames = sorted(rng.randint(0, 80) for _ in range(n))
    nodes = [Node(i, f * FS) for i, f in enumerate(frames)]
    vocab = ["call", "kitchen", "lights", "on", "off", "é", ""]
    arcs = []
    for s in range(n - 1):
        for _ in range(rng.randint(1, 3)):
            d = rng.randint(s + 1, n - 1)
            arcs.append(Arc(s, d, rng.choice(vocab), frames[s] * FS, frames[d] * FS, -rng.uniform(0, 9),
                            rng.choice([0.0, 0.0, 1.5, -0.75]), 0.0))
    finals = sorted({n - 1, *rng.sample(range(1, n), min(2, n - 1))})
    return Lattice(nodes, arcs, 0, finals, FS).prune()  # prune(): live arcs only, fresh posteriors


def same_structure(a: Lattice, b: Lattice, score_tol=1e-6):
    assert [v.time for v in a.nodes] == [v.time for v in b.nodes]
    assert (a.start, a.finals, a.frame_shift) == (b.start, b.finals, b.frame_shift)
    assert [(x.src, x.dst, x.word) for x in a.arcs] == [(y.src, y.dst, y.word) for y in b.arcs]
    for x, y in zip(a.arcs, b.arcs):
        assert x.acoustic == pytest.approx(y.acoustic, abs=score_tol)
        assert x.bias == pytest.approx(y.bias, abs=score_tol)


# ---- JSON -------------------------------------------------------------------------------------------------------
def test_json_round_trip_is_exact(real):
    for _, lat in real + [(None, synthetic(s)) for s in range(10)]:
        text = lat.to_json()
        d = json.loads(text)
        assert d["format"] == "edgeasr.lattice" and d["version"] == 1 and d["num_paths"] == lat.num_paths()
        assert Lattice.from_json(text) == lat
        assert Lattice.from_json(text.encode()) == lat


def test_malformed_json_raises_lattice_error(real):
    good = json.loads(real[0][1].to_json())
    bad = ["", "{", "[]", "null", '{"format": "edgeasr.lattice"}', json.dumps({**good, "version": 2}),
           json.dumps({**good, "format": "other"}), json.dumps({k: v for k, v in good.items() if k != "frame_shift"}),
           json.dumps({**good, "arcs": [{**good["arcs"][0], "start_frame": 99}] + good["arcs"][1:]}),
           json.dumps({**good, "arcs": good["arcs"] + [{**good["arcs"][0], "acoustic": "x"}]}),
           json.dumps({**good, "finals": [10 ** 6]}), "[" * 100000, b"\xff\xfe{", 12]
    for text in bad:
        with pytest.raises(LatticeError):
            Lattice.from_json(text)
    with pytest.raises(LatticeError, match="acoustic"):
        Lattice.from_json(json.dumps(good).replace('"acoustic": ' + json.dumps(good["arcs"][0]["acoustic"]),
                                                   '"acoustic": NaN', 1))


# ---- OpenFST ----------------------------------------------------------------------------------------------------
def fst_best_words(lat: Lattice, tmp_path) -> tuple[list[str], float]:
    """Compiles the text FST with kaldifst, runs its shortest path and reads the words back."""
    table = tmp_path / "words.txt"
    table.write_text(lat.openfst_symbols())
    syms = kaldifst.SymbolTable.read_text(str(table))
    fst = kaldifst.compile(lat.to_openfst_text(), isymbols=syms, osymbols=syms, keep_isymbols=True,
                           keep_osymbols=True)
    ok, _, olabels, weight = kaldifst.get_linear_symbol_sequence(kaldifst.shortest_path(fst))
    assert ok
    id_to_word = {int(i): w for w, i in (line.split() for line in table.read_text().splitlines())}
    return [id_to_word[i] for i in olabels], weight.value


def test_openfst_shortest_path_is_our_best_path(real, tmp_path):
    for text, lat in real:
        words, cost = fst_best_words(lat, tmp_path)
        assert " ".join(words) == text == lat.text()
        assert cost == pytest.approx(-sum(a.score for a in lat.best_path()), abs=1e-4)  # float32 in the FST
    checked = 0
    for seed in range(40):
        lat = synthetic(seed)
        scores = sorted((p.score for p in lat.nbest(2)), reverse=True)
        if len(scores) == 2 and scores[0] - scores[1] < 1e-3:
            continue  # a near tie: float32 weights may pick either
        words, cost = fst_best_words(lat, tmp_path)
        assert words == [a.word for a in lat.best_path() if a.word]
        assert cost == pytest.approx(-sum(a.score for a in lat.best_path()), abs=1e-4)
        checked += 1
    assert checked >= 30


def test_openfst_text_layout():
    lat = Lattice([Node(0, 0.0), Node(1, FS), Node(2, 2 * FS)],
                  [Arc(1, 2, "b", FS, 2 * FS, -2.0, 0.5, 1.0), Arc(0, 1, "", 0.0, FS, -1.0, 0.0, 1.0)], 0, [2], FS)
    assert lat.to_openfst_text() == "0 1 <eps> <eps> 1.0\n1 2 b b 1.5\n2\n"
    assert lat.openfst_symbols() == "<eps> 0\nb 1\n"
    empty = Lattice([Node(0, 0.0)], [], 0, [0], FS)
    assert empty.to_openfst_text() == "0\n"
    with pytest.raises(LatticeError, match="<eps>"):
        Lattice([Node(0, 0.0), Node(1, FS)], [Arc(0, 1, "<eps>", 0.0, FS, -1.0, 0.0, 1.0)], 0, [1],
                FS).to_openfst_text()


# ---- HTK SLF ----------------------------------------------------------------------------------------------------
def test_htk_slf_round_trip(real):
    for _, lat in real + [(None, synthetic(s)) for s in range(20)]:
        slf = lat.to_htk_slf("utt1")
        lines = slf.splitlines()
        assert "VERSION=1.0" in lines and "UTTERANCE=utt1" in lines and any(x.startswith("lmscale=") for x in lines)
        back = Lattice.from_htk_slf(slf)
        # SLF keeps times on nodes: a link read back spans its nodes' times; everything else survives.
        assert [v.time for v in back.nodes] == [v.time for v in lat.nodes]
        assert (back.start, back.finals, back.frame_shift) == (lat.start, lat.finals, lat.frame_shift)
        assert [(a.src, a.dst, a.word) for a in back.arcs] == [(a.src, a.dst, a.word) for a in lat.arcs]
        for a, b in zip(lat.arcs, back.arcs):
            assert b.acoustic == pytest.approx(a.acoustic, rel=1e-7, abs=1e-9)
            assert b.bias == pytest.approx(a.bias, rel=1e-7, abs=1e-9)
            assert b.posterior == pytest.approx(a.posterior, rel=1e-7, abs=1e-9)
            assert (b.start, b.end) == (lat.nodes[a.src].time, lat.nodes[a.dst].time)
        assert back.text() == lat.text()
        assert back.to_htk_slf("utt1") == slf  # and the text is a fixed point


def test_htk_slf_reads_pocketsphinx_node_words():
    # The layout ps_lattice_write_htk writes: words on nodes (a link carries its source node's word), <s> and </s>
    # as !SENT_START/!SENT_END, 100 frames per second, no frame_shift comment.
    slf = "\n".join([
        "# Lattice generated by PocketSphinx", "#", "# Header", "#", "VERSION=1.0", "start=0", "end=4", "#",
        "N=5\tL=5", "#", "# Node definitions", "#",
        "I=0\tt=0.00\tW=!SENT_START\tv=1", "I=1\tt=0.12\tW=turn\tv=1", "I=2\tt=0.40\tW=on\tv=1",
        "I=3\tt=0.40\tW=off\tv=1", "I=4\tt=0.75\tW=!SENT_END\tv=1", "#", "# Link definitions", "#",
        "J=0\tS=0\tE=1\ta=-10.5\tp=1", "J=1\tS=1\tE=2\ta=-30.25\tp=0.7", "J=2\tS=1\tE=3\ta=-31.0\tp=0.3",
        "J=3\tS=2\tE=4\ta=-20.0\tp=0.7", "J=4\tS=3\tE=4\ta=-20.5\tp=0.3"]) + "\n"
    lat = Lattice.from_htk_slf(slf)
    assert lat.frame_shift == 0.01 and lat.finals == (4,) and [v.time for v in lat.nodes][1] == 0.12
    assert [a.word for a in lat.arcs] == ["", "turn", "turn", "on", "off"]
    assert lat.text() == "turn on"
    assert [p.text for p in lat.nbest(5)] == ["turn on", "turn off"]
    htk_style = Lattice.from_htk_slf(slf, node_words="end")  # HTK's own convention: the word ending at E
    assert htk_style.text() == "turn on"
    assert [a.word for a in htk_style.arcs][:3] == ["turn", "on", "off"]


def test_malformed_slf_raises_lattice_error():
    good = Lattice([Node(0, 0.0), Node(1, FS)], [Arc(0, 1, "x", 0.0, FS, -1.0, 0.0, 1.0)], 0, [1], FS).to_htk_slf()
    bad = ["", "VERSION=1.0\n", good.replace("N=2", "N=3"), good.replace("L=1", "L=2"),
           good.replace("S=0\tE=1", "S=1\tE=0"), good.replace("a=-1", "a=abc"), good.replace("a=-1", "a=nan"),
           good.replace("S=0", "S=9"), good.replace("VERSION=1.0", "VERSION=2.0"), good.replace("J=0", "J=zero"),
           good + "garbage\n", good.replace("I=1", "I=0"), good.replace("p=1", "p=1.5"),
           good.replace("N=2", "N=99999999999")]
    for text in bad:
        with pytest.raises(LatticeError):
            Lattice.from_htk_slf(text)
    backwards = Lattice([Node(0, FS), Node(1, 0.0)], [Arc(0, 1, "x", 0.0, FS, -1.0, 0.0, 1.0)], 0, [1], FS)
    with pytest.raises(LatticeError, match="cannot go back"):
        backwards.to_htk_slf()
    with pytest.raises(LatticeError, match="before it starts"):
        Lattice.from_htk_slf(good.replace("t=0.04", "t=0.00").replace("I=0\tt=0.00", "I=0\tt=0.08"))
    for word in ("!NULL", "!SENT_END"):
        lat = Lattice([Node(0, 0.0), Node(1, FS)], [Arc(0, 1, word, 0.0, FS, -1.0, 0.0, 1.0)], 0, [1], FS)
        with pytest.raises(LatticeError, match="reserves"):
            lat.to_htk_slf()


# ---- pictures -----------------------------------------------------------------------------------------------------
def test_dot_labels_times_words_posteriors_and_the_best_path(real):
    text, lat = real[0]
    dot = lat.to_dot(title="example")
    assert dot.startswith("digraph lattice {") and dot.rstrip().endswith("}")
    for v in lat.nodes:
        assert f'n{v.id} [label="{v.time:.2f}s"' in dot
    red = [line for line in dot.splitlines() if "->" in line and "penwidth=2.5" in line]
    assert len(red) == len(lat.best_path())
    assert " ".join(line.split('label="')[1].split()[0] for line in red) == text
    for a in lat.arcs:
        assert f'n{a.src} -> n{a.dst} [label="{a.word or "<no words>"} {a.posterior:.2g}"' in dot


def test_render_writes_svg_and_png(real, tmp_path):
    lat = real[1][1]
    svg = lat.render(tmp_path / "l.svg")
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg")) and "computer" in svg.read_text()
    png = lat.render(tmp_path / "l.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=".png"):
        lat.render(tmp_path / "l.gif")


def test_transcribe_writes_lattice_files(tmp_path, capsys):
    wavs = [str(DATA / name) for name in CLIPS]
    assert main(["transcribe", wavs[0], "--lattice-png", str(tmp_path / "one.png"), "--lattice-json",
                 str(tmp_path / "one.json"), "--lattice-fst", str(tmp_path / "one.fst")]) == 0
    text = capsys.readouterr().out.strip()
    assert (tmp_path / "one.png").read_bytes()[:4] == b"\x89PNG"
    assert Lattice.from_json((tmp_path / "one.json").read_text()).text() == text
    assert (tmp_path / "one.words.txt").read_text().startswith("<eps> 0\n")
    assert (tmp_path / "one.fst").read_text().startswith("0 ")
    assert main(["transcribe", *wavs, "--lattice-json", str(tmp_path / "many.json")]) == 0
    for name in CLIPS:
        stem = name.rsplit(".", 1)[0]
        assert Lattice.from_json((tmp_path / f"many.{stem}.json").read_text()).nodes
    capsys.readouterr()
    assert main(["transcribe", wavs[0], wavs[0], "--lattice-png", str(tmp_path / "x.png")]) == 1
    assert "collide" in capsys.readouterr().err
    assert main(["transcribe", wavs[0], "--lattice-png", str(tmp_path / "x.gif")]) == 1
    assert ".png" in capsys.readouterr().err
    assert main(["transcribe", wavs[0], "--lattice-json", str(tmp_path / "missing" / "x.json")]) == 1
    assert "cannot write" in capsys.readouterr().err


@st.composite
def any_lattice(draw):
    """Random valid lattices: any start, any finals (the start among them or not), repeated and empty words,
    several frame shifts, arcs whose times differ from their nodes'."""
    fs = draw(st.sampled_from([FS, 0.01, 0.03, 1 / 3]))
    n = draw(st.integers(1, 10))
    frames = sorted(draw(st.lists(st.integers(0, 3000), min_size=n, max_size=n)))  # time runs along arcs
    arcs = []
    for _ in range(draw(st.integers(0, 20)) if n > 1 else 0):
        s = draw(st.integers(0, n - 2))
        d = draw(st.integers(s + 1, n - 1))
        a = draw(st.integers(0, 3000))
        arcs.append(Arc(s, d, draw(st.sampled_from(["", "a", "on", "naïve", "日本"])), a * fs,
                        (a + draw(st.integers(0, 40))) * fs, draw(st.floats(-50, 0)), draw(st.floats(-5, 5)),
                        draw(st.floats(0, 1))))
    finals = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return Lattice([Node(i, f * fs) for i, f in enumerate(frames)], arcs, draw(st.integers(0, n - 1)), finals, fs)


@settings(max_examples=200, deadline=None)
@given(any_lattice())
def test_json_and_slf_round_trip_any_lattice(lat):
    assert Lattice.from_json(lat.to_json()) == lat
    slf = lat.to_htk_slf()
    back = Lattice.from_htk_slf(slf)
    assert [v.time for v in back.nodes] == [v.time for v in lat.nodes]
    assert (back.start, back.finals, back.frame_shift) == (lat.start, lat.finals, lat.frame_shift)
    assert [(a.src, a.dst, a.word) for a in back.arcs] == [(a.src, a.dst, a.word) for a in lat.arcs]
    assert back.to_htk_slf() == slf
