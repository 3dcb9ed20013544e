"""End-pointer decisions on constructed signals (exact step counts), the completeness table, per-step energy and the
noise floor, and config validation. No recognizer here: tests/test_endpoint_stream.py runs the bundled model."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgeasr.endpoint import (CompletenessModel, EndpointConfig, Endpointer, NoiseFloor, StepEnergy,
                              default_completeness, final_defaults, search_defaults, speculative_defaults)
from edgeasr.endpoint.energy import BAND_HZ, band_energy_db

STEP = 0.04
FLOOR = -60.0
QUIET, LOUD = -58.0, -20.0   # 2 dB and 40 dB above the floor


class FixedCompleteness:
    """P(end) looked up by the last word; unknown words 0."""

    def __init__(self, table):
        self.table = table

    def p_end(self, words):
        return self.table.get(words[-1], 0.0) if words else 0.0


COMPLETE = FixedCompleteness({"minutes": 0.9, "for": 0.05})


def config(**kw):
    base = dict(complete_timeout_s=0.08, incomplete_timeout_s=0.2, complete_threshold=0.5, max_utterance_s=2.0,
                energy_margin_db=6.0, dynamic_range_db=30.0, blank_threshold=0.8, min_speech_s=0.12)
    base.update(kw)
    return EndpointConfig(**base)


def feed(ep, kinds):
    """kinds: a string, one letter per step: L loud (speech energy), E a token emitted in quiet audio, B a low
    blank probability in quiet audio, q quiet non-speech."""
    for k in kinds:
        blank = math.log(0.3) if k == "B" else math.log(0.99)
        trailing = 0 if k == "E" else 5
        energy = LOUD if k == "L" else QUIET
        ep.accept([blank], [trailing], [energy], [FLOOR])


def first_fire(ep, words, kinds, words_from=0):
    """Steps fed when the end-pointer first fires, one step at a time, and the decision. The hypothesis is empty
    until ``words_from`` steps have been fed."""
    for i, k in enumerate(kinds):
        feed(ep, k)
        d = ep.decide(words if i + 1 >= words_from else [])
        if d is not None:
            return i + 1, d
    return None, None


def test_complete_words_fire_after_the_short_timeout_exactly():
    ep = Endpointer(config(), STEP, COMPLETE)
    n, d = first_fire(ep, ["ten", "minutes"], "LLLLL" + "q" * 20)
    assert n == 5 + 2                      # 0.08 s = 2 steps of 40 ms
    assert d.rule == "complete" and d.speech_end_step == 5 and d.trailing_s == pytest.approx(0.08)
    assert d.p_end == pytest.approx(0.9)


def test_incomplete_words_wait_for_the_long_timeout():
    ep = Endpointer(config(), STEP, COMPLETE)
    n, d = first_fire(ep, ["timer", "for"], "LLLLL" + "q" * 20)
    assert n == 5 + 5                      # 0.2 s = 5 steps
    assert d.rule == "incomplete" and d.speech_end_step == 5


def test_every_speech_signal_restarts_the_trailing_run():
    for kind in "LEB":   # loud audio, an emitted token, a low blank posterior: each one is speech
        ep = Endpointer(config(), STEP, COMPLETE)
        n, d = first_fire(ep, ["minutes"], "LLLL" + "q" + kind + "qq")
        assert n == 8 and d.speech_end_step == 6, kind


def test_long_utterances_end_after_the_long_timeout_whatever_the_words():
    # 0.4 s of speech (10 steps) reaches long_utterance_s: 3 quiet steps (0.12 s) end it, incomplete words or not.
    cfg = config(long_utterance_s=0.4, long_timeout_s=0.12)
    n, d = first_fire(Endpointer(cfg, STEP, COMPLETE), ["timer", "for"], "L" * 10 + "q" * 20)
    assert n == 10 + 3 and d.rule == "long" and d.speech_end_step == 10
    # Complete words still end it after complete_timeout_s when that comes first.
    n, d = first_fire(Endpointer(cfg, STEP, COMPLETE), ["ten", "minutes"], "L" * 10 + "q" * 20)
    assert n == 10 + 2 and d.rule == "complete"
    # Speech one step shorter than long_utterance_s: the incomplete timeout as before.
    n, d = first_fire(Endpointer(cfg, STEP, COMPLETE), ["timer", "for"], "q" * 3 + "L" * 9 + "q" * 20,
                      words_from=12)
    assert n == 3 + 9 + 5 and d.rule == "incomplete"
    # Speech is counted from the first speech step to the last, pauses inside included.
    n, d = first_fire(Endpointer(cfg, STEP, COMPLETE), ["timer", "for"], "LLLL" + "qq" + "LLLL" + "q" * 20)
    assert n == 10 + 3 and d.rule == "long"


def test_timeouts_follow_the_models_step_not_a_constant():
    # 30 ms steps (another frame shift x subsampling): 0.2 s is ceil(6.67) = 7 steps, 0.08 s is 3.
    ep = Endpointer(config(), 0.03, COMPLETE)
    assert first_fire(ep, ["for"], "LLLLL" + "q" * 20)[0] == 5 + 7
    ep = Endpointer(config(), 0.03, COMPLETE)
    assert first_fire(ep, ["minutes"], "LLLLL" + "q" * 20)[0] == 5 + 3


def test_no_words_never_fire_and_words_from_silence_are_dropped():
    ep = Endpointer(config(), STEP, COMPLETE)
    assert first_fire(ep, [], "LLLL" + "q" * 100) == (None, None)
    ep = Endpointer(config(), STEP, COMPLETE)   # a token emitted in quiet audio, nothing loud: not an utterance
    # Dropped only after the incomplete timeout (5 steps), never at the complete one (2): a drop cannot be undone.
    n, d = first_fire(ep, ["minutes"], "qqEqqqqqqq", words_from=3)
    assert d.rule == "no_speech" and n == 8 and not ep.has_speech
    ep = Endpointer(config(min_speech_s=0.0), STEP, COMPLETE)
    assert first_fire(ep, ["minutes"], "qqEqqqq", words_from=3)[1].rule == "complete"


def test_presence_has_its_own_margin_not_the_end_pointing_one():
    # A word 7 dB over the floor for three steps: not loud for the 9 dB end-pointing margin, present for the 6 dB
    # presence margin, so it is an utterance (it ends by the timeout after it) and not dropped as noise.
    for margin in (9.0, 12.0):
        ep = Endpointer(config(energy_margin_db=margin, presence_margin_db=6.0), STEP, COMPLETE)
        for e in [FLOOR + 7.0] * 3:
            ep.accept([math.log(0.99)], [0], [e], [FLOOR])
        assert ep.present_steps == 3 and ep.has_speech and not ep.is_loud(FLOOR + 7.0, FLOOR)
        for _ in range(2):
            feed(ep, "q")
        assert ep.decide(["minutes"]).rule == "complete"
    # Judged against the end-pointing margin (the rule before), the same word is dropped.
    ep = Endpointer(config(energy_margin_db=9.0, presence_margin_db=9.0), STEP, COMPLETE)
    for e in [FLOOR + 7.0] * 3:
        ep.accept([math.log(0.99)], [0], [e], [FLOOR])
    feed(ep, "qq")
    assert ep.present_steps == 0 and ep.decide(["minutes"]) is None  # not yet: only the complete timeout passed
    feed(ep, "qqq")
    assert ep.present_steps == 0 and ep.decide(["minutes"]).rule == "no_speech"
    # Noise swinging up to 5 dB over the floor, with tokens emitted in it, is still not speech.
    ep = Endpointer(config(), STEP, COMPLETE)
    for i in range(40):
        ep.accept([math.log(0.3)], [0 if i % 3 else 4], [FLOOR + 5.0 * (i % 2)], [FLOOR])
    feed(ep, "qq")
    assert ep.present_steps == 0 and ep.decide(["minutes"]) is None  # not yet: only the complete timeout passed
    feed(ep, "qqq")
    assert ep.present_steps == 0 and ep.decide(["minutes"]).rule == "no_speech"
    # Far below the recent peak (a reverberation tail) is not presence either.
    ep = Endpointer(config(), STEP, COMPLETE)
    ep.accept([0.0], [5], [FLOOR + 50.0], [FLOOR])
    ep.reset()
    ep.accept([0.0] * 3, [5] * 3, [FLOOR + 10.0] * 3, [FLOOR] * 3)
    assert ep.present_steps == 0


def test_max_utterance_length_fires_during_speech():
    ep = Endpointer(config(max_utterance_s=0.4), STEP, COMPLETE)
    n, d = first_fire(ep, ["for"], "qq" + "L" * 30, words_from=4)
    assert n == 2 + 10 and d.rule == "max_utterance"   # counted from the first speech step


def test_words_are_asked_for_only_when_a_rule_could_fire():
    calls = []

    def words():
        calls.append(1)
        return ["minutes"]

    ep = Endpointer(config(), STEP, COMPLETE)
    feed(ep, "LLLLq")
    assert ep.decide(words) is None and calls == []
    feed(ep, "q")
    assert ep.decide(words).rule == "complete" and calls == [1]


def test_quiet_steps_far_below_the_peak_are_not_loud():
    ep = Endpointer(config(dynamic_range_db=30.0), STEP, COMPLETE)
    ep.accept([0.0] * 3, [5] * 3, [-10.0, -39.0, -41.0], [-100.0] * 3)   # floor -100: digital silence
    assert ep.present_steps == 2 and ep.trailing == 1 and ep.last_speech == 1


def test_reset_starts_a_new_utterance():
    ep = Endpointer(config(), STEP, COMPLETE)
    feed(ep, "LLLqq")
    ep.reset()
    assert (ep.steps, ep.trailing, ep.present_steps, ep.first_speech, ep.last_speech) == (0, 0, 0, None, None)
    assert first_fire(ep, ["minutes"], "LLLLqq")[0] == 6


def test_mismatched_signal_lengths_raise():
    ep = Endpointer(config(), STEP, COMPLETE)
    with pytest.raises(ValueError, match="equal lengths"):
        ep.accept([0.0, 0.0], [1], [0.0, 0.0], [0.0, 0.0])


@pytest.mark.parametrize("field,value,match", [
    ("complete_timeout_s", 0.0, "complete_timeout_s"), ("incomplete_timeout_s", float("nan"), "incomplete_timeout_s"),
    ("complete_threshold", 1.5, "complete_threshold"), ("blank_threshold", -0.1, "blank_threshold"),
    ("energy_margin_db", -1.0, "energy_margin_db"), ("min_speech_s", -0.1, "min_speech_s"),
    ("presence_margin_db", 0.0, "presence_margin_db"),
    ("long_utterance_s", 0.0, "long_utterance_s"), ("long_timeout_s", -0.1, "long_timeout_s"),
    ("max_utterance_s", 0.1, "max_utterance_s"), ("complete_timeout_s", 0.5, "must not exceed"),
    ("dynamic_range_db", True, "dynamic_range_db")])
def test_config_validation_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        config(**{field: value}).validate()
    with pytest.raises(ValueError, match=match):
        Endpointer(config(**{field: value}), STEP, COMPLETE)


@pytest.mark.parametrize("lm", [False, True])
@pytest.mark.parametrize("beam", [4, 16])
def test_defaults_are_valid_and_the_speculative_one_is_the_earlier(lm, beam):
    spec, final = speculative_defaults(lm, beam), final_defaults(lm, beam)
    spec.validate()
    final.validate()
    assert spec.complete_timeout_s < final.complete_timeout_s and spec.incomplete_timeout_s < final.incomplete_timeout_s
    with pytest.raises(ValueError, match="seconds_per_step"):
        Endpointer(final, 0.0)
    with pytest.raises(ValueError, match="config"):
        Endpointer({"complete_timeout_s": 0.1}, STEP)


# -- completeness ---------------------------------------------------------------------------------------------------

def test_bundled_completeness_table_knows_the_domain():
    m = default_completeness()
    assert "train" in m.source and "dev" not in m.source and "test" not in m.source
    assert m.p_end([]) == 0.0
    assert m.p_end(["computer"]) < 0.02                          # the wake word never ends a request
    assert m.p_end("set a timer for".split()) < 0.05
    assert m.p_end("set a timer for ten minutes".split()) > 0.5
    assert m.p_end("set a timer for ten minutes".split()) > m.p_end("set a timer for ten".split())
    # The same last two words, told apart by the words before them (order 4, the request's start as a word).
    assert m.order == 4
    assert m.p_end("start a timer".split()) > 0.7 > 0.1 > m.p_end("set a timer".split())
    # A word the table never saw counts as a rare word: a finite probability, the same for any unseen word.
    assert 0 < m.p_end(["call", "zqxjkv"]) == m.p_end(["call", "vbnmwq"]) < 1
    with pytest.raises(ValueError, match="words"):
        m.p_end("set a timer")


def _table(tmp_path, **fields):
    data = {"format": "edgeasr.endpoint_completeness", "version": 2, "prior": [1, 4], "order": 2,
            "contexts": [{"a": [0, 3], "b": [3, 4], "<unk>": [1, 2]}, {"a b": [0, 2], "<s> b": [2, 2]}]}
    data.update(fields)
    path = tmp_path / "table.json"
    path.write_text(json.dumps(data))
    return path


def test_bundled_completeness_lookup_equals_the_formula_on_the_json():
    """The compact tables (integer codes, bisection) against the module's formula computed on the JSON directly."""
    import random

    m = default_completeness()
    data = json.loads(m.path.read_text(encoding="utf-8"))
    tables = [{tuple(k.split(" ")): v for k, v in t.items()} for t in data["contexts"]]
    known = {k[0] for k in tables[0]}

    def reference(words):
        words = [w if w in known else "<unk>" for w in words]
        tail = ["<s>"] * max(0, m.order - len(words)) + words[-m.order:]
        p = data["prior"][0] / data["prior"][1]
        for k in range(1, m.order + 1):
            ends, total = tables[k - 1].get(tuple(tail[-k:]), (0, 0))
            p = (ends + 2 * p) / (total + 2)
        return p

    rng = random.Random(0)
    vocabulary = sorted(known) + ["zzzq", "<s>"]
    sequences = [[rng.choice(vocabulary) for _ in range(rng.randint(1, 7))] for _ in range(3000)]
    sequences += [s.split()[:i] for s in ("computer set a timer for ten minutes", "call siobhan oyelaran mobile",
                                          "start a timer") for i in range(1, len(s.split()) + 1)]
    for words in sequences:
        assert m.p_end(words) == pytest.approx(reference(words), abs=1e-12), words


def test_completeness_formula_on_a_small_table(tmp_path):
    m = CompletenessModel(_table(tmp_path))
    p_b = (3 + 2 * 0.25) / (4 + 2)
    assert m.p_end(["b"]) == pytest.approx((2 + 2 * p_b) / (2 + 2))   # the request's first word: "<s> b"
    assert m.p_end(["a", "b"]) == pytest.approx((0 + 2 * p_b) / (2 + 2))
    assert m.p_end(["x", "b"]) == pytest.approx(p_b)             # pair never seen: the word alone
    assert m.p_end(["x", "zzz"]) == pytest.approx((1 + 2 * 0.25) / (2 + 2))   # unknown word: <unk>
    assert m.p_end(["a", "a", "b"]) == m.p_end(["a", "b"])       # only the last `order` words count


def test_completeness_without_an_unknown_class_and_with_start_said_as_a_word(tmp_path):
    m = CompletenessModel(_table(tmp_path, contexts=[{"a": [0, 3], "b": [3, 4]}, {"a b": [0, 2], "<s> b": [2, 2]}]))
    p_b = (3 + 2 * 0.25) / (4 + 2)
    assert m.p_end(["zzz"]) == pytest.approx(0.25)               # no <unk> class: the prior
    assert m.p_end(["zzz", "b"]) == pytest.approx(p_b)           # the pair with an unknown word is not held
    assert m.p_end(["<s>", "b"]) == pytest.approx(p_b)           # "<s>" heard as a word is an unknown word
    assert m.p_end(["b"]) == pytest.approx((2 + 2 * p_b) / (2 + 2))


def test_completeness_third_order_context(tmp_path):
    # "<s> a b" ends every time it was seen; "c a b" never: the same last pair, told apart by the word before it.
    m = CompletenessModel(_table(tmp_path, order=3, contexts=[
        {"a": [0, 6], "b": [3, 6], "c": [0, 3]}, {"a b": [3, 6], "<s> a": [0, 3], "c a": [0, 3]},
        {"<s> a b": [3, 3], "c a b": [0, 3]}]))
    p_ab = (3 + 2 * ((3 + 2 * 0.25) / (6 + 2))) / (6 + 2)
    assert m.p_end(["a", "b"]) == pytest.approx((3 + 2 * p_ab) / (3 + 2))
    assert m.p_end(["c", "a", "b"]) == pytest.approx((0 + 2 * p_ab) / (3 + 2))
    assert m.p_end(["a", "b"]) > 0.7 > 0.3 > m.p_end(["c", "a", "b"])


@pytest.mark.parametrize("fields,match", [
    ({"version": 1}, "not a completeness table"), ({"format": "other"}, "not a completeness table"),
    ({"contexts": [{"a": [5, 4]}, {}]}, "ends <= total"), ({"order": 0}, "order"), ({"order": "2"}, "order"),
    ({"order": 3}, "contexts"), ({"contexts": [{"a b": [1, 2]}, {}]}, "expected 1 words"),
    ({"contexts": [{"a": [1, 2]}, {"a c": [1, 2]}]}, "not a word"), ({"contexts": [{"<s>": [1, 2]}, {}]}, "not a word"),
    ({"order": 8}, "contexts"),
    ({"prior": [0, 4]}, "prior"), ({"contexts": [{"a": [1.5, 2]}, {}]}, "ends <= total")])
def test_bad_completeness_files_raise(tmp_path, fields, match):
    with pytest.raises(ValueError, match=match):
        CompletenessModel(_table(tmp_path, **fields))


def test_completeness_contexts_must_fit_63_bits(tmp_path):
    words = {f"w{i}": [1, 2] for i in range(235)}           # 236 ids with "<s>": 236 ** 8 > 2 ** 63
    with pytest.raises(ValueError, match="63 bits"):
        CompletenessModel(_table(tmp_path, order=8, contexts=[words] + [{}] * 7))
    assert CompletenessModel(_table(tmp_path, order=7, contexts=[words] + [{}] * 6)).p_end(["w1"]) > 0


def test_unreadable_completeness_file_raises(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("not json")
    with pytest.raises(ValueError, match="cannot read"):
        CompletenessModel(path)


def test_completeness_builder_counts_train_requests():
    import importlib.util  # the builder needs the train extra, as the rest of the suite does
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "build_endpoint_completeness.py"
    spec = importlib.util.spec_from_file_location("build_endpoint_completeness", script)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    table = builder.build(300, min_count=3, order=3)
    assert table["prior"][0] == 300 and table["order"] == 3 and len(table["contexts"]) == 3
    for k, contexts in enumerate(table["contexts"], 1):
        assert all(0 <= e <= t and t >= 3 for e, t in contexts.values())
        assert all(len(key.split(" ")) == k for key in contexts)
    assert sum(e for e, _ in table["contexts"][0].values()) == 300   # every end is under some word (or <unk>)
    assert any(key.startswith("<s> ") for key in table["contexts"][1])  # the request's start is a context


# -- energy and noise floor -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [16000, 8000, 44100])
def test_step_energy_streams_like_one_call(rate):
    rng = np.random.default_rng(rate)
    x = (0.1 * rng.standard_normal(int(1.3 * rate))).astype(np.float32)
    whole = StepEnergy(STEP).accept(x, rate)
    parts, e = [], StepEnergy(STEP)
    i = 0
    while i < x.size:
        n = int(rng.integers(1, 3000))
        parts.append(e.accept(x[i:i + n], rate))
        i += n
    assert len(whole) == int(1.3 / STEP) == e.steps
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-9)


def test_band_energy_of_tones():
    rate = 16000
    t = np.arange(640) / rate
    assert band_energy_db(0.5 * np.sin(2 * np.pi * 1000 * t), rate) == pytest.approx(10 * np.log10(0.125), abs=0.05)
    assert band_energy_db(0.5 * np.sin(2 * np.pi * 60 * t), rate) < -60       # below the band: rumble
    assert band_energy_db(np.zeros(640), rate) == -100.0
    assert BAND_HZ[0] < 1000 < BAND_HZ[1]


def test_noise_floor_drops_at_once_and_rises_slowly():
    floor = NoiseFloor(STEP, rise_db_per_s=5.0)                               # 0.2 dB per step
    out = floor.update(np.array([-50.0, -60.0, -20.0, -20.0, -20.0, -61.0]))
    np.testing.assert_allclose(out, [-50.0, -60.0, -59.8, -59.6, -59.4, -61.0])
    with pytest.raises(ValueError, match="rise_db_per_s"):
        NoiseFloor(STEP, rise_db_per_s=-1.0)


def fire_with_words(ep, kinds, complete_from):
    """Steps fed when the end-pointer first fires; the words look complete from step ``complete_from`` on."""
    for i, k in enumerate(kinds):
        feed(ep, k)
        d = ep.decide(["ten", "minutes"] if i + 1 >= complete_from else ["timer", "for"])
        if d is not None:
            return i + 1, d
    return None, None


def test_gap_factor_makes_the_complete_rule_outwait_the_utterances_own_gaps():
    # A 3-step gap while the words still look incomplete, then complete words and a 2-step gap, then the end.
    kinds = "LLL" + "qqq" + "LLL" + "qq" + "LL" + "q" * 20
    off = Endpointer(config(), STEP, COMPLETE)
    n, d = fire_with_words(off, kinds, complete_from=9)
    assert n == 11 and d.rule == "complete"          # in the second gap: a cut-off
    on = Endpointer(config(gap_factor=1.0, gap_margin_s=0.04), STEP, COMPLETE)
    n, d = fire_with_words(on, kinds, complete_from=9)
    assert on.longest_gap == 3 and on.gap_wait_steps == 3 + 1
    assert n == 13 + 4 and d.rule == "complete" and d.speech_end_step == 13


def test_gap_factor_never_delays_the_incomplete_timeout():
    # A 4-step gap with factor 2 asks the complete rule for 8 + 2 steps, more than the 5-step incomplete timeout.
    ep = Endpointer(config(gap_factor=2.0), STEP, COMPLETE)
    n, d = fire_with_words(ep, "LLL" + "qqqq" + "LLLL" + "q" * 20, complete_from=9)
    assert ep.gap_wait_steps == 2 * 4 + 2
    assert n == 11 + 5 and d.speech_end_step == 11
    ep.reset()
    assert ep.longest_gap == 0 and ep.gap_wait_steps == 2   # the margin alone: under the complete timeout here


@pytest.mark.parametrize("field", ["gap_factor", "gap_margin_s"])
def test_gap_settings_must_not_be_negative(field):
    with pytest.raises(ValueError, match=field):
        config(**{field: -0.1}).validate()


TUNES = {(False, 4): "endpoint-feed40.tune.json", (True, 4): "endpoint-lm-feed40.tune.json",
         (False, 16): "endpoint-feed40-beam16.tune.json", (True, 16): "endpoint-lm-feed40-beam16.tune.json"}


@pytest.mark.parametrize("search", sorted(TUNES))
def test_the_defaults_are_the_recorded_tunes_choice(search):
    """The shipped end-pointer settings for each search (n-gram LM or not, beam width) are those bench/endpoint.py
    --tune --feed-ms 40 chose for it (bench/results/endpoint[-lm]-feed40[-beam16].tune.json): retuning means changing
    both."""
    lm, beam = search
    tune = json.loads((Path(__file__).resolve().parent.parent / "bench" / "results" / TUNES[search]).read_text())
    assert tune["chunk_ms"] == 40
    assert tune["recognizer"]["beam"] == beam
    assert (tune["lm"] is not None) == lm and (tune["recognizer"]["lm_scale"] > 0) == lm
    assert final_defaults(lm, beam).to_dict() == tune["final"]["config"]
    assert speculative_defaults(lm, beam).to_dict() == tune["speculative"]["config"]


def test_the_defaults_follow_the_recognizers_search():
    """An EndpointingStream takes the settings tuned for its recognizer's search; a width between two tuned ones
    takes the narrower one's, and no width means the recognizer's default."""
    from edgeasr import EndpointingStream, Recognizer, RecognizerConfig
    from edgeasr.recognizer import DEFAULT_BEAM, default_lm_path

    assert DEFAULT_BEAM == RecognizerConfig.beam
    assert len({final_defaults(lm, beam).to_dict().__repr__() for lm, beam in TUNES}) == 4  # all four differ
    assert final_defaults(True) == final_defaults(True, DEFAULT_BEAM) != final_defaults(True, 4)
    assert final_defaults(True, 8) == final_defaults(True, 4) and final_defaults(True, 64) == final_defaults(True, 16)
    assert final_defaults(False, 1) == final_defaults(False, 4)
    assert speculative_defaults(True) == speculative_defaults(True, 16) != speculative_defaults(True, 4)
    for bad in (0, -4, 2.5, True, "16"):
        with pytest.raises(ValueError, match="beam"):
            final_defaults(True, bad)
    with_lm = EndpointingStream(Recognizer(lm=default_lm_path()))
    assert with_lm.final.config == final_defaults(lm=True)
    assert with_lm.speculative.config == speculative_defaults(lm=True)
    assert EndpointingStream(Recognizer(lm=None)).final.config == final_defaults()
    assert EndpointingStream(Recognizer()).final.config == final_defaults(lm=True)  # the bundled model brings its LM
    narrow = EndpointingStream(Recognizer(config=RecognizerConfig(beam=4)))
    assert narrow.final.config == final_defaults(True, 4) and narrow.speculative.config == speculative_defaults(True, 4)
    greedy = EndpointingStream(Recognizer(config=RecognizerConfig(decoding="greedy_search")))  # width 1, no LM
    assert greedy.final.config == final_defaults(False, 4) != final_defaults(False)
    # A stream with a grammar decodes without the LM (unless lm=True) and takes the settings tuned without it.
    bundled = Recognizer()
    commands = EndpointingStream(bundled, grammar=["stop", "call mum"])
    assert not commands.stream.uses_lm and commands.final.config == final_defaults(False)
    assert commands.speculative.config == speculative_defaults(False) != speculative_defaults(True)
    fused = EndpointingStream(bundled, grammar=["stop", "call mum"], lm=True)
    assert fused.stream.uses_lm and fused.final.config == final_defaults(True)
    assert search_defaults(bundled, ["stop"]) == (speculative_defaults(False), final_defaults(False))
    assert search_defaults(bundled, lm=False) == search_defaults(bundled, ["stop"]) != search_defaults(bundled)
    unfused = EndpointingStream(bundled, lm=False)
    assert not unfused.stream.uses_lm and unfused.final.config == final_defaults(False)


def test_grammar_sentences_and_what_may_follow():
    from edgeasr import Recognizer

    rec = Recognizer()
    g = rec.grammar(["Lights  on", "lights", "stop", "call mum", "stop"])
    assert g.phrases == ("lights on", "lights", "stop", "call mum") and g.num_phrases == 4
    assert g.is_sentence([]) and g.is_sentence(["lights"]) and g.is_sentence(["lights", "on"])
    assert not g.is_sentence(["call"]) and not g.is_sentence(["stop", "stop"]) and not g.is_sentence(["on"])
    assert g.can_go_on(["lights"]) and g.can_go_on(["call"]) and not g.can_go_on(["lights", "on"])
    assert not g.can_go_on(["stop"])
    loop = rec.grammar(["five", "two", "nine one"], repeat=True)
    assert loop.is_sentence(["five", "two", "nine", "one", "five"]) and not loop.is_sentence(["five", "nine"])
    assert loop.can_go_on(["five"])


def test_grammar_completeness_knows_a_whole_command():
    """1 for a phrase no longer one continues, 0 for a phrase cut short or words outside the grammar, the table's
    estimate where the grammar allows more; the end-pointing stream takes it unless given a completeness."""
    from edgeasr import EndpointingStream, Recognizer
    from edgeasr.endpoint import GrammarCompleteness, default_completeness

    rec = Recognizer()
    table = default_completeness()
    c = GrammarCompleteness(rec.grammar(["lights on", "lights", "call mum"]))
    assert c.p_end(["lights", "on"]) == 1.0 and c.p_end(["call", "mum"]) == 1.0
    assert c.p_end(["call"]) == 0.0 and c.p_end(["turn", "it", "off"]) == 0.0 and c.p_end([]) == 0.0
    assert c.p_end(["lights"]) == table.p_end(["lights"])
    assert table.p_end(["lights", "on"]) < 1.0  # the table alone would not be sure (the check can fail)
    loop = GrammarCompleteness(rec.grammar(["five", "two"], repeat=True))
    assert loop.p_end(["five", "two"]) == table.p_end(["five", "two"]) and loop.p_end(["five", "six"]) == 0.0
    with pytest.raises(ValueError, match="str"):
        c.p_end("lights on")
    stream = EndpointingStream(rec, grammar=["lights on", "stop"])
    assert isinstance(stream.final.completeness, GrammarCompleteness)
    assert stream.speculative.completeness is stream.final.completeness
    assert EndpointingStream(rec, grammar=["stop"], completeness=table).final.completeness is table
