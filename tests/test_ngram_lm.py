"""The token n-gram LM: estimation (edgeasr.train.ngram), ARPA and compiled files (edgeasr.ngram_lm), and its fusion
in the recognizer's beam search (the search itself against brute force: tests/cpp/test_search.cc)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from edgeasr.audio import load_audio
from edgeasr.ngram_lm import NgramLm, NgramLmError, load_lm
from edgeasr.recognizer import (DEFAULT_BEAM, LM_SEARCH_DEFAULTS, LM_SEARCH_DEFAULTS_BY_BEAM, SEARCH_DEFAULTS,
                                Recognizer, RecognizerConfig, default_lm_path, default_model_path,
                                lm_search_defaults)
from edgeasr.tokens import TokenTable
from edgeasr.train.ngram import estimate_arpa

LN10 = math.log(10.0)
WORDS = ["call", "mum", "turn", "on", "off", "the", "kitchen", "lights", "set", "a", "timer", "for", "five", "ten",
         "minutes", "computer", "play", "music"]


EXAMPLE = default_model_path().with_name("example.wav")


@pytest.fixture(scope="module")
def rec():
    """The bundled model without an LM."""
    return Recognizer(lm=None)


@pytest.fixture(scope="module")
def example():
    """The bundled clip ("computer set a timer for ten minutes"): samples, rate."""
    return load_audio(EXAMPLE)


def sentences(table: TokenTable, n: int, seed: int) -> list[list[str]]:
    """Random word strings with some structure (templates plus noise), as token pieces."""
    rng = random.Random(seed)
    templates = [["call", "mum"], ["turn", "on", "the", "kitchen", "lights"], ["turn", "off", "the", "lights"],
                 ["set", "a", "timer", "for", "five", "minutes"], ["set", "a", "timer", "for", "ten", "minutes"],
                 ["play", "music"]]
    out = []
    for _ in range(n):
        words = list(rng.choice(templates))
        if rng.random() < 0.5:
            words.insert(0, "computer")
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS))
        out.append([table[i] for i in table.encode(" ".join(words))])
    return out


def write_arpa(tmp_path, table, order=3, min_count=1, n=300, seed=0):
    pieces = [table[i] for i in range(len(table)) if i != table.blank_id]
    path = tmp_path / f"lm{order}-{min_count}.arpa"
    path.write_text(estimate_arpa(sentences(table, n, seed), pieces, order=order, min_count=min_count))
    return path


def reference_scorer(arpa_text: str):
    """An ARPA backoff model read and scored independently of edgeasr.ngram_lm (dicts of word tuples, log10)."""
    prob, backoff, order = {}, {}, 0
    for line in arpa_text.splitlines():
        line = line.strip()
        if line.endswith("-grams:"):
            order = int(line[1:line.index("-")])
            continue
        if not order or not line or line.startswith("\\"):
            continue
        f = line.split()
        words = tuple(f[1:order + 1])
        prob[words] = float(f[0])
        if len(f) == order + 2:
            backoff[words] = float(f[order + 1])

    def p(history: tuple, w: str) -> float:
        if (*history, w) in prob:
            return prob[(*history, w)]
        return backoff.get(history, 0.0) + p(history[1:], w)

    def score(words: list[str], eos: bool = True) -> float:
        seq, total = ["<s>"], 0.0
        for w in [*words, *(["</s>"] if eos else [])]:
            history = tuple(seq[-(order - 1):]) if order > 1 else ()
            total += p(history, w)
            seq.append(w)
        return total * LN10

    return score


@pytest.mark.parametrize("order,min_count", [(2, 1), (3, 1), (4, 2)])
def test_every_history_is_a_distribution(rec, tmp_path, order, min_count):
    lm = NgramLm.from_arpa(write_arpa(tmp_path, rec.tokens, order, min_count), rec.tokens)
    assert lm.order == order
    eos = len(rec.tokens)
    for state in range(lm.native.num_states):
        logprob, _ = lm.native.score_all(state)
        p = np.exp(logprob.astype(np.float64))
        p[rec.tokens.blank_id] = 0.0
        total = p.sum() + math.exp(lm.native.score(state, eos)[0])
        assert total == pytest.approx(1.0, abs=1e-4), f"state {state}"


def test_scores_equal_an_independent_backoff_reading(rec, tmp_path):
    path = write_arpa(tmp_path, rec.tokens, order=3, min_count=2)
    lm = NgramLm.from_arpa(path, rec.tokens)
    ref = reference_scorer(path.read_text())
    rng = random.Random(1)
    pieces = [rec.tokens[i] for i in range(1, len(rec.tokens))]
    seqs = sentences(rec.tokens, 20, seed=7) + [[rng.choice(pieces) for _ in range(rng.randrange(1, 8))]
                                                for _ in range(20)]
    for seq in seqs:
        ids = [rec.tokens.id_of(p) for p in seq]
        assert lm.score(ids) == pytest.approx(ref(seq), abs=1e-4)
        assert lm.score(ids, eos=False) == pytest.approx(ref(seq, eos=False), abs=1e-4)
    # The model learned the templates: a request beats its words scrambled.
    good = rec.tokens.encode("turn on the kitchen lights")
    bad = rec.tokens.encode("lights the on kitchen turn")
    assert lm.score(good) > lm.score(bad) + 5


def test_estimation_errors(rec):
    pieces = [rec.tokens[i] for i in range(1, len(rec.tokens))]
    with pytest.raises(ValueError, match="order"):
        estimate_arpa([["▁call"]], pieces, order=0)
    with pytest.raises(ValueError, match="min_count"):
        estimate_arpa([["▁call"]], pieces, min_count=0)
    with pytest.raises(ValueError, match="no text"):
        estimate_arpa([], pieces)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        estimate_arpa([["nonsense-token"]], pieces)


ARPA = """
\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-99\t<s>\t-0.3
-0.5\t</s>
-0.6\t<unk>
-0.4\tA\t-0.2

\\2-grams:
-0.1\t<s> A
-0.2\tA </s>

\\end\\
"""


def tiny_table():
    return TokenTable(["<blk>", "A", "B"])


@pytest.mark.parametrize("change,message", [
    (lambda t: t.replace("\\data\\", "data"), "no \\\\data"),
    (lambda t: t.replace("ngram 2=2", "ngram 2=3"), "the header says 3"),
    (lambda t: t.replace("ngram 2=2\n", ""), "no count"),
    (lambda t: t.replace("-0.1\t<s> A", "-0.1\t<s> C"), "'C' is not a token"),
    (lambda t: t.replace("-0.1\t<s> A", "x\t<s> A"), "not a number"),
    (lambda t: t.replace("-0.1\t<s> A", "nan\t<s> A"), "not a finite"),
    (lambda t: t.replace("-0.1\t<s> A", "-0.1\t<s>"), "expected a log10 prob"),
    (lambda t: t.replace("\\end\\", ""), "truncated"),
    (lambda t: t.replace("-0.2\tA </s>", "-0.2\t</s> A"), "middle"),
    (lambda t: t.replace("-0.5\t</s>\n", "").replace("ngram 1=4", "ngram 1=3"), "</s>"),
    (lambda t: t.replace("-0.6\t<unk>\n", "").replace("ngram 1=4", "ngram 1=3"), "'B' has no unigram"),
    (lambda t: t.replace("ngram 2=2", "ngram 2=2\nngram 3=1").replace("\\end\\", "\\3-grams:\n-0.1\tA A A\n\\end\\"),
     r"bad.arpa: n-gram .*history is not an n-gram"),
])
def test_malformed_arpa_is_refused(tmp_path, change, message):
    path = tmp_path / "bad.arpa"
    path.write_text(change(ARPA))
    with pytest.raises(NgramLmError, match=message):
        NgramLm.from_arpa(path, tiny_table())


def test_tiny_arpa_scores_by_hand(tmp_path):
    path = tmp_path / "tiny.arpa"
    path.write_text(ARPA)
    lm = NgramLm.from_arpa(path, tiny_table())
    # <s> A </s>: both bigrams explicit. <s> B </s>: B from <unk> after backing off from <s>, then </s> unigram.
    assert lm.score([1]) == pytest.approx((-0.1 - 0.2) * LN10, abs=1e-5)
    assert lm.score([2]) == pytest.approx((-0.3 - 0.6 - 0.5) * LN10, abs=1e-5)
    assert lm.score([1, 1], eos=False) == pytest.approx((-0.1 - 0.2 - 0.4) * LN10, abs=1e-5)


def test_compiled_file_round_trip_and_hostile_files(rec, tmp_path):
    lm = NgramLm.from_arpa(write_arpa(tmp_path, rec.tokens, 3, 1), rec.tokens)
    path = lm.save(tmp_path / "lm.safetensors")
    back = load_lm(path, rec.tokens)
    ids = rec.tokens.encode("computer set a timer for ten minutes")
    assert back.score(ids) == pytest.approx(lm.score(ids), abs=0.02)  # float16 scores on disk
    assert back.order == lm.order and back.num_ngrams == lm.num_ngrams

    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(NgramLmError, match="cut.safetensors"):
        load_lm(tmp_path / "cut.safetensors", rec.tokens)
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(NgramLmError):
        load_lm(tmp_path / "junk.safetensors", rec.tokens)
    with pytest.raises(NgramLmError, match="another token table"):
        load_lm(path, tiny_table())
    with pytest.raises(NgramLmError, match="no such file"):
        load_lm(tmp_path / "none.safetensors")
    with pytest.raises(NgramLmError, match="needs the token table"):
        load_lm(write_arpa(tmp_path, rec.tokens, 2, 1))

    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(path), framework="np") as f:
        meta, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    bad = dict(arrays, suffix=arrays["suffix"].copy())
    bad["suffix"][5] = 7  # a history whose suffix comes later: a loop is possible
    save_file(bad, str(tmp_path / "loop.safetensors"), meta)
    with pytest.raises(NgramLmError, match=r"suffix\[5\]"):
        load_lm(tmp_path / "loop.safetensors", rec.tokens)
    save_file(dict(arrays, arc_token=arrays["arc_token"].astype(np.int64)), str(tmp_path / "dtype.safetensors"),
              meta)
    with pytest.raises(NgramLmError, match="arc_token"):
        load_lm(tmp_path / "dtype.safetensors", rec.tokens)
    save_file(arrays, str(tmp_path / "other.safetensors"), dict(meta, format="something-else"))
    with pytest.raises(NgramLmError, match="not an edgeasr n-gram LM"):
        load_lm(tmp_path / "other.safetensors", rec.tokens)


def test_native_arrays_are_checked_for_dtype():
    from edgeasr import _core
    ok = dict(backoff=np.zeros(1, np.float32), suffix=np.full(1, -1, np.int32),
              arc_offsets=np.array([0, 3], np.int64), arc_token=np.array([1, 2, 3], np.int32),
              arc_logprob=np.log(np.full(3, 1 / 3, np.float32)), arc_next=np.zeros(3, np.int32))
    assert _core.NgramLm(3, 0, 0, **ok).order == 1
    with pytest.raises(ValueError, match="arc_next: expected dtype int32"):
        _core.NgramLm(3, 0, 0, **dict(ok, arc_next=np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match=r"backoff: expected shape \[\*\], got \[1, 1\]"):
        _core.NgramLm(3, 0, 0, **dict(ok, backoff=np.zeros((1, 1), np.float32)))
    with pytest.raises(ValueError, match="unigram for the end of sentence"):
        _core.NgramLm(3, 0, 0, **dict(ok, arc_offsets=np.array([0, 2], np.int64), arc_token=np.array([1, 2], np.int32),
                                      arc_logprob=ok["arc_logprob"][:2], arc_next=ok["arc_next"][:2]))
    with pytest.raises(ValueError, match=r"arc_token\[2\]: 4 is not a token"):
        _core.NgramLm(3, 0, 0, **dict(ok, arc_token=np.array([1, 2, 4], np.int32)))


def test_bundled_lm_fits_the_bundled_model(rec):
    lm = load_lm(default_lm_path(), rec.tokens)
    assert lm.order == 4 and lm.tokens == rec.tokens
    good = rec.tokens.encode("computer set the kitchen lights to fifty percent")
    bad = rec.tokens.encode("computer set the kitchen lights to fifty a m")
    assert lm.score(good) > lm.score(bad)


def test_recognizer_fuses_the_lm(rec, example):
    samples, rate = example
    plain = rec.transcribe(samples, rate).result()
    reward = rec.config.token_reward  # the same reward with and without the LM, so only the LM differs
    zero = Recognizer(config=RecognizerConfig(lm_scale=0.0, token_reward=reward), lm=default_lm_path())
    zero = zero.transcribe(samples, rate)
    assert zero.result().text == plain.text and zero.result().score == plain.score  # weight 0: no LM at all
    lm = load_lm(default_lm_path())
    tokens = rec.tokens.encode(plain.text)
    for end in (True, False):
        config = RecognizerConfig(lm_scale=0.5, token_reward=reward, lm_end_of_sentence=end)
        fused = Recognizer(config=config, lm=default_lm_path()).transcribe(samples, rate)
        assert fused.result().text == "computer set a timer for ten minutes"
        # The LM's log-probabilities (< 0) count in the score: lower than without it, by about the scaled LM score,
        # the end of sentence's included when it is scored.
        expected = plain.score + 0.5 * lm.score(tokens, eos=end)
        assert fused.result().score == pytest.approx(expected, abs=0.05)
        assert fused.result().score < plain.score - 4
        # The lattice's best path carries the same score: the end of sentence is an arc of it.
        best = fused.lattice().best_path()
        assert " ".join(a.word for a in best if a.word) == fused.result().text
        assert sum(a.score for a in best) == pytest.approx(fused.result().score, abs=1e-3)
    assert 0.5 * lm.score(tokens, eos=True) < 0.5 * lm.score(tokens, eos=False) - 0.05  # the two checks differ


def test_the_internal_lm_comes_out_only_with_an_lm(example):
    """ilm_scale takes the model's own prior out of each token's score (ln P_ilm < 0, so the score rises); without an
    n-gram LM it changes nothing."""
    samples, rate = example
    plain = Recognizer(lm=None).transcribe(samples, rate).result()
    ignored = Recognizer(config=RecognizerConfig(ilm_scale=0.5), lm=None).transcribe(samples, rate).result()
    assert (ignored.text, ignored.score) == (plain.text, plain.score)
    scores = {}
    for ilm in (0.0, 0.3):
        config = RecognizerConfig(lm_scale=0.3, token_reward=0.5, ilm_scale=ilm)
        r = Recognizer(config=config, lm=default_lm_path()).transcribe(samples, rate).result()
        assert r.text == "computer set a timer for ten minutes"
        scores[ilm] = r.score
    assert scores[0.3] > scores[0.0] + 1  # about 0.3 x 8 tokens x a few nats
    for bad in (-0.1, float("nan"), "0.3"):
        with pytest.raises(ValueError, match="ilm_scale"):
            RecognizerConfig(ilm_scale=bad).validate()


def test_a_settled_stream_shows_what_finalizing_there_gives(example):
    """At a speculative end-point (settle()) the result scores the end of sentence as the final one will if no more
    audio comes, so a confirmed end-point does not look revised; more audio drops that view again."""
    samples, rate = example
    audio = np.concatenate([samples, np.zeros(rate // 2, np.float32)])
    rec = Recognizer(lm=default_lm_path())
    lm = load_lm(default_lm_path())
    stream = rec.create_stream()
    stream.accept_waveform(audio, rate)
    partial = stream.result()
    stream.settle()
    settled, settled_lattice = stream.result(), stream.lattice()
    end = rec.config.lm_scale * (lm.score(rec.tokens.encode(partial.text), eos=True)
                                 - lm.score(rec.tokens.encode(partial.text), eos=False))
    assert end < -0.01  # the check can fail: </s> costs something here
    assert settled.text == partial.text and settled.score == pytest.approx(partial.score + end, abs=1e-3)
    best = settled_lattice.best_path()
    assert sum(a.score for a in best) == pytest.approx(settled.score, abs=1e-3)
    stream.finalize_utterance()
    final = stream.result()
    assert final.final and (final.text, final.score) == (settled.text, pytest.approx(settled.score, abs=1e-9))
    again = rec.create_stream()
    again.accept_waveform(audio[: len(audio) // 2], rate)
    again.settle()
    again.accept_waveform(audio[len(audio) // 2:], rate)
    assert again.result().score == pytest.approx(partial.score, abs=1e-6)  # decoding went on: no </s> in it


# The search_tune runs that chose LM_SEARCH_DEFAULTS_BY_BEAM, by beam width.
LM_TUNES = {4: "search_tune-lm-end-beam4.json", 8: "search_tune-lm-fine-beam8.json",
            16: "search_tune-lm-fine-beam16.json"}


def test_lm_defaults_are_the_recorded_tunes_choice():
    """The LM settings per beam width are what bench/search_tune.py chose with the bundled LM at that width (scoring
    the end of sentence, as the recognizer does by default); the default width's apply when a recognizer has an LM,
    a width between two tuned ones takes the narrower one's, and without an LM the plain search's."""
    results = Path(__file__).resolve().parent.parent / "bench" / "results"
    assert sorted(LM_SEARCH_DEFAULTS_BY_BEAM) == sorted(LM_TUNES)
    for beam, name in LM_TUNES.items():
        tune = json.loads((results / name).read_text())
        assert tune["run"]["lm_end_of_sentence"] is RecognizerConfig.lm_end_of_sentence is True
        assert tune["run"]["beam"] == beam
        chosen = tune["chosen"]
        assert chosen["lm_scale"] > 0  # the LM won on dev (else there would be nothing to default to)
        assert lm_search_defaults(beam) == {"lm_scale": chosen["lm_scale"], "token_reward": chosen["token_reward"]}
    assert LM_SEARCH_DEFAULTS == lm_search_defaults(DEFAULT_BEAM) == lm_search_defaults(RecognizerConfig.beam)
    assert lm_search_defaults(12) == lm_search_defaults(8) != lm_search_defaults(16) == lm_search_defaults(64)
    assert lm_search_defaults(1) == lm_search_defaults(4)
    with_lm = Recognizer(lm=default_lm_path()).config
    assert (with_lm.lm_scale, with_lm.token_reward) == (LM_SEARCH_DEFAULTS["lm_scale"],
                                                        LM_SEARCH_DEFAULTS["token_reward"])
    assert Recognizer().config == with_lm  # the bundled model brings its LM
    narrow = Recognizer(config=RecognizerConfig(beam=4)).config
    assert (narrow.lm_scale, narrow.token_reward) == (0.2, 1.3) == tuple(lm_search_defaults(4).values())
    plain = Recognizer(lm=None).config
    assert plain.token_reward == SEARCH_DEFAULTS["modified_beam_search"]["token_reward"]


def test_the_default_beam_is_the_recorded_choice():
    """DEFAULT_BEAM is the width with the lowest v1hard dev WER among the tuned ones, and on the same dev clips its
    CPU time stayed below sherpa-onnx's beam 4 (bench/results/e2e-v1hard-dev-beam16-lm.json)."""
    results = Path(__file__).resolve().parent.parent / "bench" / "results"
    best = {}
    for beam, name in LM_TUNES.items():
        tune = json.loads((results / name).read_text())
        best[beam] = min(p["wer"] for p in tune["points"] if p["lm_scale"] > 0)
    assert min(best, key=best.get) == DEFAULT_BEAM == RecognizerConfig.beam
    run = json.loads((results / "e2e-v1hard-dev-beam16-lm.json").read_text())
    assert (run["run"]["beam"], run["run"]["peer_beam"]) == (DEFAULT_BEAM, 4)
    ours, peer = run["systems"]["edgeasr-int4-beam-lm"], run["systems"]["sherpa-int8-beam"]
    assert ours["rtf_cpu"] < peer["rtf_cpu"]
    assert run["run"]["lm_scores"] == {**LM_SEARCH_DEFAULTS, "ilm_scale": 0.0}


def test_recognizer_lm_errors(rec, tmp_path):
    with pytest.raises(ValueError, match="lm_scale"):
        Recognizer(config=RecognizerConfig(lm_scale=-1.0))
    with pytest.raises(ValueError, match="greedy"):
        Recognizer(config=RecognizerConfig(decoding="greedy_search"), lm=default_lm_path())
    path = tmp_path / "tiny.arpa"
    path.write_text(ARPA)
    with pytest.raises(ValueError, match="not a token"):
        Recognizer(lm=path)  # ARPA over other pieces
    tiny = NgramLm.from_arpa(path, tiny_table())
    with pytest.raises(ValueError, match="another token table"):
        Recognizer(lm=tiny)


def test_the_bundled_model_brings_its_lm(capsys):
    """lm="auto" (the default): the bundled LM with the bundled model under beam search, nothing otherwise; the CLI
    does the same, and --no-lm turns it off."""
    from edgeasr.cli import main

    bundled = Recognizer()
    assert bundled.lm is not None and bundled.lm.tokens == bundled.tokens
    assert Recognizer(default_model_path()).lm is None  # a model named: its LM must be named too
    assert Recognizer(config=RecognizerConfig(decoding="greedy_search")).lm is None
    assert Recognizer(lm=None).lm is None
    with pytest.raises(ValueError, match="no such file"):
        Recognizer(lm=Path("auto"))  # only the string is the default's name
    scores = {}
    for extra in ([], ["--lm"], ["--no-lm"]):
        assert main(["transcribe", str(EXAMPLE), "--json", *extra]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["text"] == "computer set a timer for ten minutes"
        scores[" ".join(extra)] = record["nbest"][0]["score"]
    assert scores[""] == scores["--lm"]
    assert abs(scores["--no-lm"] - scores["--lm"]) > 0.1  # the LM's log-probabilities and token reward count


def test_cli_transcribe_with_the_lm(capsys):
    from edgeasr.cli import main

    wav = str(EXAMPLE)
    assert main(["transcribe", wav, "--lm"]) == 0
    assert capsys.readouterr().out.strip() == "computer set a timer for ten minutes"
    assert main(["transcribe", wav, "--lm", str(default_lm_path()), "--lm-scale", "0.2"]) == 0
    assert capsys.readouterr().out.strip() == "computer set a timer for ten minutes"
    assert main(["transcribe", wav, "--no-lm", "--lm-scale", "0.2"]) == 1
    assert "no LM is fused" in capsys.readouterr().err
    assert main(["transcribe", wav, "--model", str(default_model_path()), "--lm-scale", "0.2"]) == 1
    assert "no LM is fused" in capsys.readouterr().err
    assert main(["transcribe", wav, "--lm", "--no-lm"]) == 1
    assert "--no-lm" in capsys.readouterr().err
    assert main(["transcribe", wav, "--lm", "--greedy"]) == 1
    assert "--greedy" in capsys.readouterr().err
    assert main(["transcribe", wav, "--lm", "/nonexistent.safetensors"]) == 1
    assert "no such file" in capsys.readouterr().err


COMMANDS = ["computer set a timer for ten minutes", "computer set a timer for five minutes", "computer stop",
            "computer call mum"]


def test_a_grammar_stream_decodes_without_the_lm(rec, example):
    """A stream with a grammar searches without the recognizer's n-gram LM and with the settings tuned without it,
    exactly as a recognizer without the LM does, unless lm=True; lm=False drops it from any stream."""
    samples, rate = example
    bundled = Recognizer()  # the bundled model with its LM
    assert bundled.lm is not None and bundled.config.token_reward != rec.config.token_reward  # tuned with the LM

    def outcome(stream):
        r = stream.result()
        return r.text, r.score, [(a.word, a.score) for a in stream.lattice().arcs]

    plain_grammar = outcome(rec.transcribe(samples, rate, grammar=COMMANDS))
    grammar = bundled.transcribe(samples, rate, grammar=COMMANDS)
    assert not grammar.uses_lm and outcome(grammar) == plain_grammar
    assert plain_grammar[0] == "computer set a timer for ten minutes"
    fused = bundled.transcribe(samples, rate, grammar=COMMANDS, lm=True)
    assert fused.uses_lm and fused.result().text == plain_grammar[0]
    assert abs(fused.result().score - plain_grammar[1]) > 0.1  # the LM and the reward tuned with it count
    # The same switch for open vocabulary: lm=False is the recognizer without the LM, the default keeps it.
    assert outcome(bundled.transcribe(samples, rate, lm=False)) == outcome(rec.transcribe(samples, rate))
    with_lm = bundled.transcribe(samples, rate)
    assert with_lm.uses_lm and outcome(with_lm) == outcome(bundled.transcribe(samples, rate, lm=True))
    assert outcome(with_lm) != outcome(rec.transcribe(samples, rate))
    # Settings the user gave hold in both searches; those left at None take each search's defaults.
    mine = Recognizer(config=RecognizerConfig(token_reward=0.7))
    assert mine.search_config(True).token_reward == mine.search_config(False).token_reward == 0.7
    assert bundled.search_config(False).token_reward == SEARCH_DEFAULTS["modified_beam_search"]["token_reward"]
    assert bundled.search_config(True).lm_scale == LM_SEARCH_DEFAULTS["lm_scale"]


def test_stream_lm_errors(rec, example):
    samples, rate = example
    with pytest.raises(ValueError, match="no n-gram LM"):
        rec.create_stream(lm=True)
    with pytest.raises(ValueError, match="no n-gram LM"):
        rec.transcribe(samples, rate, grammar=COMMANDS, lm=True)
    for bad in ("yes", 1, 0.0):
        with pytest.raises(ValueError, match="lm: expected True, False or None"):
            Recognizer().create_stream(lm=bad)
    assert not rec.create_stream(lm=False).uses_lm and not rec.create_stream().uses_lm


def test_cli_grammar_decodes_without_the_lm_unless_named(tmp_path, capsys):
    """edgeasr transcribe --grammar: no LM unless --lm names one, so the default equals --no-lm."""
    from edgeasr.cli import main

    grammar = tmp_path / "commands.txt"
    grammar.write_text("\n".join(COMMANDS) + "\n")
    scores = {}
    for extra in ([], ["--no-lm"], ["--lm"]):
        assert main(["transcribe", str(EXAMPLE), "--json", "--grammar", str(grammar), *extra]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["text"] == "computer set a timer for ten minutes"
        scores[" ".join(extra)] = record["nbest"][0]["score"]
    assert scores[""] == scores["--no-lm"] and abs(scores["--lm"] - scores[""]) > 0.1  # LM and its reward count


def test_cli_info_describes_lm_files(tmp_path, capsys):
    """`edgeasr info` on an LM file: order, n-grams, whether its tokens are the bundled model's; model files and
    garbage are not LM files."""
    from edgeasr.cli import main
    from edgeasr.ngram_lm import is_lm_file

    bundled = load_lm(default_lm_path())
    assert main(["info", str(default_lm_path()), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["order"], d["ngrams"], d["vocab_size"]) == (4, bundled.num_ngrams, len(bundled.tokens))
    assert d["file_bytes"] == default_lm_path().stat().st_size and d["for_the_bundled_model"] is True
    arpa = tmp_path / "tiny.arpa"
    arpa.write_text(ARPA)
    tiny = NgramLm.from_arpa(arpa, tiny_table()).save(tmp_path / "tiny.safetensors")
    assert main(["info", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "order 2, " in out and "3 tokens (not the bundled model's)" in out
    assert f"file {tiny.stat().st_size} bytes" in out
    assert is_lm_file(tiny) and not is_lm_file(default_model_path()) and not is_lm_file(arpa)
    garbage = tmp_path / "bad.safetensors"
    garbage.write_bytes(b"\x00" * 20)
    assert not is_lm_file(garbage)
