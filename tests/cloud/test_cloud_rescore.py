"""Lattice rescoring: expansion, the combined score, batching, tuning of λ and γ on dev-like data."""

from __future__ import annotations

import itertools
import json

import pytest

from cloud_helpers import sausage, tiny_training
from edgeasr.cloud.rescore import (Candidate, RescoreWeights, Rescorer, combine, expand, load_weights,
                                   save_weights, tune, word_errors)


@pytest.fixture
def tiny_lm():
    return tiny_training()[0]


class TableLM:
    """A stand-in LM: a fixed log-probability per sentence (-20 for any other), counting its calls."""

    def __init__(self, table: dict[str, float]):
        self.table = table
        self.calls = 0

    def score(self, sentences):
        self.calls += 1
        return [self.table.get(" ".join(s) if not isinstance(s, str) else s, -20.0) for s in sentences]


def call_lattice():
    # The acoustics prefer "cool" over "call" by 0.5 nats.
    return sausage([[("cool", -1.0), ("call", -1.5)], [("mom", -0.5), ("tom", -2.0)]])


def test_expand_lists_the_distinct_word_sequences_best_first():
    paths = expand(call_lattice(), 10)
    assert [" ".join(w) for w, _, _ in paths] == ["cool mom", "call mom", "cool tom", "call tom"]
    assert [a for _, a, _ in paths] == pytest.approx([-1.5, -2.0, -3.0, -3.5], abs=0.01)
    assert len(expand(call_lattice(), 2)) == 2


def test_lm_reranks_with_the_documented_score():
    lm = TableLM({"call mom": -3.0, "cool mom": -9.0})
    weights = RescoreWeights(lm_weight=0.5, word_bonus=0.25)
    out = Rescorer(lm, weights).rescore(call_lattice())
    assert out[0].text == "call mom" and out[0].device_rank == 1
    for c in out:
        assert c.score == pytest.approx(c.acoustic + c.bias + 0.5 * c.lm + 0.25 * len(c.words))
        assert c.score == pytest.approx(combine(c.acoustic, c.bias, c.lm, len(c.words), weights))
    assert [c.score for c in out] == sorted((c.score for c in out), reverse=True)
    # Without the LM the device's order stands.
    assert [c.text for c in Rescorer(lm, RescoreWeights(0.0, 0.0)).rescore(call_lattice())] == \
        ["cool mom", "call mom", "cool tom", "call tom"]


def test_bias_counts_in_the_score():
    lat = sausage([[("call", -1.0)], [("siobhan", -2.0), ("shivon", -1.0)]], bias=0.0)
    from edgeasr.lattice import Arc, Lattice

    boosted = Lattice(lat.nodes, [Arc(a.src, a.dst, a.word, a.start, a.end, a.acoustic,
                                      1.5 if a.word == "siobhan" else 0.0, a.posterior) for a in lat.arcs],
                      lat.start, lat.finals, lat.frame_shift)
    out = Rescorer(TableLM({}), RescoreWeights(1.0, 0.0)).rescore(boosted)
    assert out[0].text == "call siobhan" and out[0].bias == pytest.approx(1.5)


def test_word_bonus_trades_insertions_against_deletions():
    # "set timer" vs "set a timer": the short one is acoustically better; a word bonus turns it round.
    from edgeasr.lattice import Arc, Lattice, Node

    nodes = [Node(i, i * 0.2) for i in range(4)]
    arcs = [Arc(0, 1, "set", 0.0, 0.2, -1.0, 0.0, 0.0), Arc(1, 3, "timer", 0.2, 0.6, -1.0, 0.0, 0.0),
            Arc(1, 2, "a", 0.2, 0.4, -0.8, 0.0, 0.0), Arc(2, 3, "timer", 0.4, 0.6, -0.5, 0.0, 0.0)]
    lat = Lattice(nodes, arcs, 0, [3], 0.2)
    lm = TableLM({"set timer": -5.0, "set a timer": -5.0})
    assert Rescorer(lm, RescoreWeights(1.0, 0.0)).rescore(lat)[0].text == "set timer"
    assert Rescorer(lm, RescoreWeights(1.0, 0.5)).rescore(lat)[0].text == "set a timer"


def test_rescore_many_is_one_lm_call_and_equals_one_at_a_time():
    lm = TableLM({"call mom": -3.0, "cool tom": -1.0})
    lattices = [call_lattice(), sausage([[("stop", -0.1)]]), call_lattice()]
    rescorer = Rescorer(lm, RescoreWeights(0.7, 0.1, max_paths=3))
    many = rescorer.rescore_many(lattices)
    assert lm.calls == 1
    assert many == [rescorer.rescore(lat) for lat in lattices]
    assert all(len(c) <= 3 for c in many)


def test_real_lm_on_a_real_lattice(tiny_lm):
    from edgeasr import Recognizer, load_audio
    from edgeasr.recognizer import default_model_path

    rec = Recognizer(default_model_path())
    samples, rate = load_audio(str(default_model_path().parent / "example_contact.wav"))
    lattice = rec.transcribe(samples, rate).lattice()
    out = Rescorer(tiny_lm, RescoreWeights(0.5, 0.0, max_paths=16)).rescore(lattice)
    device = lattice.nbest(16)
    assert sorted(c.words for c in out) == sorted(p.words for p in device)
    assert {c.device_rank for c in out} == set(range(len(device)))
    for c in out:
        assert c.lm == pytest.approx(tiny_lm.score([c.words])[0], abs=1e-4)


def test_the_device_lm_share_is_what_the_device_fused():
    """With the device's n-gram LM, each candidate carries that LM's score of its tokens (end of sentence included):
    the share lm_scale x device_lm that the device's search put into the path's acoustic score. Taking it out (μ =
    -lm_scale) leaves the score a search without the LM gives the same words, the same reward per token."""
    from edgeasr import Recognizer, RecognizerConfig, load_audio
    from edgeasr.ngram_lm import load_lm
    from edgeasr.recognizer import default_lm_path, default_model_path

    samples, rate = load_audio(str(default_model_path().parent / "example.wav"))
    device_lm = load_lm(default_lm_path())
    reward = Recognizer(lm=None).config.token_reward
    fused = Recognizer(config=RecognizerConfig(lm_scale=0.5, token_reward=reward), lm=default_lm_path())
    lattice = fused.transcribe(samples, rate).lattice()
    weights = RescoreWeights(0.0, 0.0, max_paths=16, device_lm_weight=-0.5)
    out = Rescorer(TableLM({}), weights, device_lm).rescore(lattice)
    assert {c.words for c in out} == {p.words for p in lattice.nbest(16)} and len(out) > 1
    for c in out:
        assert c.device_lm == pytest.approx(device_lm.score(device_lm.tokens.encode(c.text), eos=True), abs=1e-5)
        assert c.device_lm < 0
        assert c.score == pytest.approx(c.acoustic + c.bias - 0.5 * c.device_lm)
    best = next(c for c in out if c.device_rank == 0)
    plain = Recognizer(config=RecognizerConfig(token_reward=reward), lm=None).transcribe(samples, rate).result()
    assert best.text == plain.text == "computer set a timer for ten minutes"
    assert best.acoustic - 0.5 * best.device_lm == pytest.approx(plain.score, abs=0.05)
    assert abs(best.acoustic - plain.score) > 1  # the share was there to take out


def test_tune_takes_the_device_lm_share_out_when_that_helps():
    # The device's LM put "cool mom" first; without its share the acoustics prefer "call mom", which no λ or γ can
    # reach here (both paths have the same cloud LM score and length).
    cands = [[Candidate(("cool", "mom"), -1.0, 0.0, -5.0, -1.0, 0, -2.0),
              Candidate(("call", "mom"), -1.5, 0.0, -5.0, -1.5, 1, -10.0)]]
    weights, report = tune(cands, ["call mom"], lm_weights=[0.0, 1.0], word_bonuses=[0.0, 1.0])
    assert report["errors"] == 1 and weights.device_lm_weight == 0.0
    weights, report = tune(cands, ["call mom"], lm_weights=[0.0, 1.0], word_bonuses=[0.0, 1.0],
                           device_lm_weights=[0.0, -0.1, -0.25])
    assert report["errors"] == 0 and report["errors_without_lm"] == 1 and weights.device_lm_weight == -0.1
    assert (weights.lm_weight, weights.word_bonus) == (0.0, 0.0)  # ties: the smallest of the others


def test_the_device_lm_weight_needs_the_device_lm(tmp_path):
    from edgeasr.ngram_lm import NgramLm
    from edgeasr.tokens import TokenTable

    with pytest.raises(ValueError, match="device_lm: the weights take"):
        Rescorer(TableLM({}), RescoreWeights(device_lm_weight=-0.2))
    with pytest.raises(ValueError, match="device_lm_weight"):
        RescoreWeights(device_lm_weight=float("inf")).validate()
    table = TokenTable(["<blk>", "<unk>", "\u2581a"])  # no piece scores: it cannot spell the lattice's words
    arpa = "\\data\\\nngram 1=4\n\n\\1-grams:\n-0.5 <s>\n-0.5 </s>\n-1 <unk>\n-0.5 \u2581a\n\n\\end\\\n"
    with pytest.raises(ValueError, match="no BPE piece scores"):
        Rescorer(TableLM({}), RescoreWeights(), NgramLm.from_arpa_text(arpa, table))
    # Weights files from before μ load with μ = 0; the new field round-trips.
    w = RescoreWeights(0.2, 0.25, 64, -0.15)
    assert load_weights(save_weights(tmp_path / "w.json", w)) == w
    old = json.loads((tmp_path / "w.json").read_text())
    del old["device_lm_weight"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert load_weights(tmp_path / "old.json") == RescoreWeights(0.2, 0.25, 64, 0.0)


def test_word_errors_is_the_edit_distance():
    def brute(ref, hyp):  # the fewest edits, by trying every alignment of prefixes recursively
        if not ref or not hyp:
            return len(ref) + len(hyp)
        return min(brute(ref[1:], hyp[1:]) + (ref[0] != hyp[0]), brute(ref[1:], hyp) + 1, brute(ref, hyp[1:]) + 1)

    words = ["a", "b", "c"]
    for n, m in itertools.product(range(4), range(4)):
        for ref in itertools.product(words, repeat=n):
            hyp = tuple(reversed(ref))[:m] + ("b",) * max(0, m - n)
            assert word_errors(ref, hyp) == brute(ref, hyp)


def _cands(texts_scores):
    return [Candidate(tuple(t.split()), ac, 0.0, lm, ac, i) for i, (t, ac, lm) in enumerate(texts_scores)]


def test_tune_finds_weights_that_lower_the_errors():
    # Utterance 1 needs the LM; utterance 2 is broken by too much LM weight; 3 needs a word bonus.
    cands = [
        _cands([("cool mom", -1.0, -9.0), ("call mom", -1.5, -3.0)]),
        _cands([("play jazz", -1.0, -6.0), ("play jams", -4.0, -2.0)]),
        _cands([("set timer", -1.0, -4.0), ("set a timer", -1.6, -4.2)]),
    ]
    refs = ["call mom", "play jazz", "set a timer"]
    weights, report = tune(cands, refs, lm_weights=[0.0, 0.25, 0.5, 1.0, 2.0], word_bonuses=[0.0, 0.5, 1.0])
    assert report["errors"] == 0 and report["errors_without_lm"] == 2 and report["words"] == 7
    # Check the choice against the rule by hand.
    for c, ref in zip(cands, refs):
        best = max(c, key=lambda x: combine(x.acoustic, x.bias, x.lm, len(x.words), weights))
        assert best.text == ref
    assert 0.0 < weights.lm_weight < 1.5


def test_tune_rejects_mismatched_input():
    with pytest.raises(ValueError, match="references"):
        tune([_cands([("a", -1.0, -1.0)])], [])
    with pytest.raises(ValueError, match="at least one"):
        tune([], [])


def test_weights_file_round_trip_and_errors(tmp_path):
    w = RescoreWeights(0.35, -0.5, 16)
    path = save_weights(tmp_path / "w.json", w, {"wer": 0.1})
    assert load_weights(path) == w
    assert json.loads(path.read_text())["tuning"] == {"wer": 0.1}
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not an edgeasr.rescore_weights"):
        load_weights(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="lm_weight"):
        RescoreWeights(float("nan")).validate()
    with pytest.raises(ValueError, match="max_paths"):
        Rescorer(TableLM({}), RescoreWeights(max_paths=0))
