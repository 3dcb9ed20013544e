"""The end-pointing protocol on real audio with the bundled model: two utterances in one stream, a premature
speculative end-point revised and reset, end of input, silence, resampled input, errors; and `edgeasr listen`."""

import dataclasses
import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from edgeasr import Lattice, Recognizer, RecognizerConfig, load_audio, resample
from edgeasr.cli import main as cli_main
from edgeasr.endpoint import (EndpointConfig, EndpointingStream, FinalEndpoint, Reset, SpeculativeEndpoint,
                              final_defaults, speculative_defaults)
from edgeasr.endpoint.stream import IDLE_RESET_S
from edgeasr.train.synth import colored_noise

DATA = files("edgeasr") / "data"
# The request clips these tests were built around (their cut points, pauses and the wake-word case below): the
# bundled examples as rendered with flite slt before the bundled ones moved to another held-out voice
# (python scripts/make_examples.py --voice flite:slt --out tests/data, files renamed).
CLIPS = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def rec():
    return Recognizer(config=RecognizerConfig(chunk_frames=4))


@pytest.fixture(scope="module")
def clips():
    x, rate = load_audio(str(CLIPS / "slt_timer.wav"))
    y, rate_y = load_audio(str(CLIPS / "slt_contact.wav"))
    assert rate == rate_y == 16000
    return x, y, rate


def speech_end(x, rate):
    """The clips are clean TTS over digital silence: speech ends at the last sample above -60 dBFS."""
    return (np.flatnonzero(np.abs(x) > 1e-3)[-1] + 1) / rate


def noise(seconds, rate, seed=0):
    return (1e-4 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def run(stream, audio, rate, chunk_s=0.1):
    n = int(chunk_s * rate)
    events = []
    for i in range(0, audio.size, n):
        events += stream.accept_waveform(audio[i:i + n], rate)
    return events


def check_protocol(events):
    """Per utterance: one speculative, one final, and a reset exactly when the final is not confirmed; in order."""
    by_utt = {}
    for e in events:
        by_utt.setdefault(e.utterance, []).append(e)
    for utt, evs in by_utt.items():
        kinds = [type(e) for e in evs]
        final = evs[1]
        assert kinds == [SpeculativeEndpoint, FinalEndpoint] + ([] if final.confirmed else [Reset]), (utt, kinds)
        assert evs[0].time <= final.time and all(isinstance(e.lattice, Lattice) for e in evs[:2])
        assert final.result.final and not evs[0].result.final
    assert sorted(by_utt) == list(range(len(by_utt)))
    return by_utt


def test_two_utterances_with_silence_between(rec, clips):
    x, y, rate = clips
    gap = 1.5
    audio = np.concatenate([x, noise(gap, rate), y, noise(gap, rate, 1)])
    audio = audio + noise(audio.size / rate + 1.0, rate, 2)[:audio.size]
    seen = []
    stream = EndpointingStream(rec, on_event=seen.append)
    events = run(stream, audio, rate)
    assert events == seen                                     # the callback gets every event, in the same order
    by_utt = check_protocol(events)
    assert len(by_utt) == 2
    start_y = (x.size + int(gap * rate)) / rate
    for utt, true_end in ((0, speech_end(x, rate)), (1, start_y + speech_end(y, rate))):
        spec, final = by_utt[utt][:2]
        assert true_end < final.time < true_end + 1.0, (utt, true_end, final.time)
        assert abs(final.speech_end - true_end) < 0.25
        assert final.result.text
    # The first utterance is what the recognizer makes of the same audio on its own.
    first = by_utt[0][1]
    assert first.result.text == rec.transcribe(audio[:int(first.time * rate)], rate).result().text
    # The second one starts afresh (search reset) and its times are stream times.
    second = by_utt[1][1]
    assert all(w.start >= by_utt[0][1].time - 0.2 for w in second.result.words)
    assert all(a.start >= by_utt[0][1].time - 0.2 for a in second.lattice.arcs)
    assert stream.stream.step_offset > 0 and stream.utterance == 2


def test_encoder_starts_afresh_after_each_utterance_by_default(rec, clips):
    x, y, rate = clips
    audio = np.concatenate([x, noise(1.0, rate), y, noise(1.0, rate, 1), x, noise(1.0, rate, 2)])
    audio = audio + noise(audio.size / rate, rate, 3)[:audio.size]
    default = check_protocol(run(EndpointingStream(rec), audio, rate))
    fresh = check_protocol(run(EndpointingStream(rec, reset_encoder=True), audio, rate))
    carried = check_protocol(run(EndpointingStream(rec, reset_encoder=False), audio, rate))
    assert len(carried) == len(fresh) == len(default) == 3
    texts = {name: [u[1].result.text for u in by_utt.values()] for name, by_utt in
             (("default", default), ("fresh", fresh), ("carried", carried))}
    assert texts["default"] == texts["fresh"]
    assert texts["carried"][0] == texts["fresh"][0]                  # nothing differs before the first reset
    assert texts["carried"][1:] != texts["fresh"][1:]                # the state carried over changes what is heard
    # With the reset after the second request, the third is heard as in a stream that starts there.
    stream, n, reset_s = EndpointingStream(rec), int(0.1 * rate), None
    for i in range(0, audio.size, n):
        events = stream.accept_waveform(audio[i:i + n], rate)
        if any(isinstance(e, FinalEndpoint) and e.utterance == 1 for e in events):
            reset_s = stream.stream.step_offset * rec.seconds_per_step
            break
    assert reset_s is not None and reset_s > 2 * x.size / rate
    alone = [e for e in run(EndpointingStream(rec), audio[int(round(reset_s * rate)):], rate)
             if isinstance(e, FinalEndpoint)]
    assert alone[0].result.text == texts["fresh"][2], texts
    # Stream.next_utterance() puts the encoder back at a fresh stream's state by default; reset_encoder=False keeps
    # it going.
    frames = np.random.default_rng(0).standard_normal((4 * rec.model.subsampling, 80)).astype(np.float32)
    zero = rec.network.encode(frames, rec.network.init_state())
    for kwargs, reset in (({}, True), ({"reset_encoder": True}, True), ({"reset_encoder": False}, False)):
        s = rec.create_stream()
        s.accept_waveform(x, rate)
        s.next_utterance(**kwargs)
        same = np.array_equal(rec.network.encode(frames, s._state), zero)
        assert same == reset


def test_premature_speculative_endpoint_is_revised_and_reset(rec, clips):
    x, _, rate = clips
    cut = int(1.28 * rate)                                    # between "timer" and "for"
    audio = np.concatenate([x[:cut], np.zeros(int(0.5 * rate), np.float32), x[cut:]]) + noise(
        x.size / rate + 0.5, rate)[:x.size + int(0.5 * rate)]
    eager = EndpointConfig(complete_timeout_s=0.04, incomplete_timeout_s=0.16)
    patient = EndpointConfig(complete_timeout_s=0.6, incomplete_timeout_s=0.8)
    events = run(EndpointingStream(rec, speculative=eager, final=patient), audio, rate)
    by_utt = check_protocol(events)
    assert list(by_utt) == [0]
    spec, final, reset = by_utt[0]
    assert spec.time < (cut / rate) + 0.5                     # fired in the pause
    assert not final.confirmed and isinstance(reset, Reset) and reset.time == final.time
    assert final.time > speech_end(x, rate) + 0.5
    assert len(final.result.words) > len(spec.result.words)
    assert len(final.lattice.arcs) > len(spec.lattice.arcs)


def test_what_counts_as_a_premature_speculative_endpoint(rec, clips):
    """The final end-pointer's test, on the parts it looks at: words, token times, speech (or audio over the presence
    margin) after the speculative end-point, and lattice arcs hypothesized after it (posterior >=
    REVISE_ARC_POSTERIOR)."""
    from edgeasr.endpoint.stream import REVISE_ARC_POSTERIOR, _Speculative

    x, _, rate = clips
    s = rec.create_stream()
    s.accept_waveform(np.concatenate([x, noise(0.5, rate)]), rate)
    result, lattice = s.result(), s.lattice()
    stream = EndpointingStream(rec)
    end = max(a.end for a in lattice.arcs)
    same = _Speculative(tuple(w.word for w in result.words), tuple(result.timestamps), 0, end)
    stream._spec = same
    assert not stream._premature(result, lattice)
    stream._spec = dataclasses.replace(same, words=same.words[:-1])
    assert stream._premature(result, lattice)
    stream._spec = dataclasses.replace(same, timestamps=same.timestamps[:-1] + (same.timestamps[-1] - 0.04,))
    assert stream._premature(result, lattice)
    stream._spec = same
    stream.final.accept([0.0], [0], [-20.0], [-60.0])          # a speech step after the speculative one fired
    assert stream._premature(result, lattice)
    # Non-speech steps (blank, no token): 3 dB over the floor changes nothing; 7.5 dB, over the presence margin (6 dB)
    # but under an end-pointing margin of 9 dB, may be a word's quiet tail.
    margins = dataclasses.replace(final_defaults(), energy_margin_db=9.0)
    stream = EndpointingStream(rec, speculative=dataclasses.replace(margins), final=margins)
    stream._spec = same
    stream.final.accept([0.0], [0], [-20.0], [-60.0])      # the peak; then speech stops before the speculative step
    stream._spec = dataclasses.replace(same, step=1)
    stream.final.accept([0.0], [5], [-49.0], [-52.0])     # (within 30 dB of the -20 dB peak above)
    assert stream.final.last_speech == 0 and not stream._premature(result, lattice)
    stream.final.accept([0.0], [6], [-44.5], [-52.0])
    assert stream.final.last_speech == 0 and stream._premature(result, lattice)
    stream = EndpointingStream(rec)
    stream._spec = same
    last = lattice.arcs[-1]
    for posterior, premature in ((REVISE_ARC_POSTERIOR, True), (REVISE_ARC_POSTERIOR / 2, False)):
        later = dataclasses.replace(last, word="please", start=end, end=end + 0.2, posterior=posterior)
        grown = Lattice(lattice.nodes, list(lattice.arcs) + [later], lattice.start, lattice.finals,
                        lattice.frame_shift)
        assert stream._premature(result, grown) == premature, posterior


def test_the_same_pause_is_confirmed_when_nothing_changes(rec, clips):
    x, _, rate = clips
    audio = np.concatenate([x, noise(1.5, rate)])
    eager = EndpointConfig(complete_timeout_s=0.04, incomplete_timeout_s=0.16)
    # The words and the speech stay the same; the late-arc test is left out (the test above covers it): whether the
    # lattice gains a weak alternative after the speculative end-point depends on the bundled model (run v5 adds
    # "minute" ending at 2.12 s with posterior 0.09 here).
    stream = EndpointingStream(rec, speculative=eager, revise_arc_posterior=None)
    by_utt = check_protocol(run(stream, audio, rate))
    spec, final = by_utt[0]
    assert final.confirmed and spec.result.text == final.result.text and spec.time < final.time


def test_iterator_form_and_resampled_input_give_the_same_events(rec, clips):
    x, _, rate = clips
    audio = np.concatenate([x, noise(1.5, rate)])
    chunks = [audio[i:i + 1600] for i in range(0, audio.size, 1600)]
    a = [(type(e), e.utterance, e.time) for e in EndpointingStream(rec).events(chunks, rate)]
    b = [(type(e), e.utterance, e.time) for e in run(EndpointingStream(rec), audio, rate)]
    assert a == b and len(a) >= 2
    low = resample(audio, rate, 8000)
    c = run(EndpointingStream(rec), low, 8000)
    # 8 kHz audio: the model hears less, and the speculative end-point may come early in a gap; then the final one
    # revises it and resets.
    final = [e for e in c if isinstance(e, FinalEndpoint)]
    assert len(final) == 1 and isinstance(c[0], SpeculativeEndpoint) and c[1] is final[0]
    assert [type(e) for e in c[2:]] == ([] if final[0].confirmed else [Reset])
    assert speech_end(x, rate) < final[0].time < speech_end(x, rate) + 1.0


def test_input_finished_closes_the_utterance(rec, clips):
    x, _, rate = clips
    stream = EndpointingStream(rec)
    assert run(stream, x[:int(2.0 * rate)], rate) == []    # cut before the end of the last word
    events = stream.input_finished()
    assert [type(e) for e in events] == [SpeculativeEndpoint, FinalEndpoint]
    assert events[1].confirmed and events[1].time == pytest.approx(2.0, abs=1e-3)
    assert stream.input_finished() == []
    with pytest.raises(ValueError, match="input_finished"):
        stream.accept_waveform(x[:100], rate)


def colored(seconds, rate, color, rms, seed=0):
    """``seconds`` of the training corpus's coloured noise (edgeasr.train.synth.colored_noise) at ``rms``."""
    return colored_noise(int(seconds * rate), color, np.random.default_rng(seed), rate) * np.float32(rms)


def test_silence_and_noise_give_no_events(rec):
    rate = 16000
    for audio in (np.zeros(5 * rate, np.float32), noise(5, rate), noise(5, rate) * 100,
                  *(colored(5, rate, color, rms, seed=k) for k, color in enumerate(("white", "pink", "brown"))
                    for rms in (0.003, 0.03))):
        dropped = []
        stream = EndpointingStream(rec, on_drop=lambda t, r: dropped.append(r.text))
        assert run(stream, audio, rate) == [] and stream.input_finished() == []
        assert all(dropped)   # words the recognizer made up from the noise, if any, were dropped


def test_a_wake_word_said_over_noise_is_not_dropped(rec, clips):
    """The bundled contact request over white noise at 11 dB SNR (against the speech's power): the loud syllables
    of "computer" rise 9 dB (the end-pointing margin the easier dev split once chose) over the floor for fewer than
    120 ms before the pause after it; judged with that margin and dropped at the complete timeout, the no_speech
    rule lost the wake word. Now the drop waits for the incomplete timeout, by which the words after the pause count
    as presence, so it is kept with either margin, and the noise alone still gives nothing. Words the recognizer
    makes up from the noise after the request's final end-point may be dropped (it does make some up); nothing before
    it may."""
    _, y, rate = clips
    speech = np.abs(y) > 1e-3
    rms = float(np.sqrt(np.mean(y[speech] ** 2) / 10 ** (11 / 10)))
    pad = np.zeros(rate // 2, np.float32)
    clean = np.concatenate([pad, y, pad, pad])
    audio = clean + colored(clean.size / rate, rate, "white", rms, seed=1)
    start, end = 0.5 + np.flatnonzero(speech)[0] / rate, 0.5 + speech_end(y, rate)

    def lost_and_finals(**presence):
        configs = {k: dataclasses.replace(f(), **presence) for k, f in (("speculative", speculative_defaults),
                                                                       ("final", final_defaults))}
        dropped = []
        stream = EndpointingStream(rec, on_drop=lambda t, r: dropped.extend(r.words), **configs)
        events = run(stream, audio, rate) + stream.input_finished()
        finals = [e.result.words for e in events if isinstance(e, FinalEndpoint)]
        request_end = finals[0][-1].end if finals and finals[0] else end
        return [w.word for w in dropped if w.end > start and w.start < request_end], finals

    # The rule before (presence judged with the 9 dB margin, drop at the complete timeout) lost it; the drop now
    # waits for the incomplete timeout, by which the words after the pause have shown presence, so even the 9 dB
    # margin keeps it (tests/test_endpoint.py checks each margin on its own).
    lost, finals = lost_and_finals(presence_margin_db=9.0)
    assert lost == [] and finals[0][0].word == "computer"
    lost, finals = lost_and_finals()
    # The word's time is its first token's emission, which lags the onset by a few hundred ms in this noise: within
    # half a second of the onset it is the spoken wake word, not a later one.
    assert lost == [] and finals[0][0].word == "computer" and finals[0][0].start < start + 0.5
    stream = EndpointingStream(rec)
    assert run(stream, audio - clean, rate) == [] and stream.input_finished() == []


def test_bad_input_raises(rec, clips):
    x, _, rate = clips
    with pytest.raises(ValueError, match="on_event"):
        EndpointingStream(rec, on_event="print")
    with pytest.raises(ValueError, match="on_drop"):
        EndpointingStream(rec, on_drop=[])
    with pytest.raises(ValueError, match="complete_timeout_s"):
        EndpointingStream(rec, final=EndpointConfig(complete_timeout_s=-1.0))
    stream = EndpointingStream(rec)
    stream.accept_waveform(x[:1000], rate)
    with pytest.raises(ValueError, match="sample_rate"):
        stream.accept_waveform(x[:1000], 8000)
    with pytest.raises(ValueError):
        stream.accept_waveform(np.full(100, np.nan, np.float32), rate)


def test_listen_on_a_file_prints_the_events(capsys):
    path = str(DATA / "example.wav")
    assert cli_main(["listen", "--file", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["speculative", "final"]
    assert all(line.split()[2] == "#0" and line.split()[0].endswith("s") for line in lines)
    assert cli_main(["listen", "--file", path, "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kind"] for r in records] == ["SpeculativeEndpoint", "FinalEndpoint"]
    assert records[1]["confirmed"] and records[1]["time"] > records[1]["speech_end"] > 1.5
    assert records[1]["text"] == lines[1].split("#0", 1)[1].strip()


def test_listen_with_the_lm_takes_its_end_pointer_settings(capsys):
    """With the LM (the bundled model's default, or --lm): the final end-pointer takes the settings tuned with the LM
    (final_defaults(lm=True)), which at the default beam wait 80 ms more after complete words than --no-lm's."""
    path = str(DATA / "example.wav")
    finals = {}
    for extra in (["--no-lm"], [], ["--lm"]):
        assert cli_main(["listen", "--file", path, "--json", *extra]) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["kind"] for r in records] == ["SpeculativeEndpoint", "FinalEndpoint"]
        assert records[1]["text"] == "computer set a timer for ten minutes"
        finals[" ".join(extra)] = records[1]["time"]
    assert finals[""] == finals["--lm"]
    wait = final_defaults(lm=True).complete_timeout_s - final_defaults(lm=False).complete_timeout_s
    assert wait == pytest.approx(0.08)
    assert finals["--lm"] == pytest.approx(finals["--no-lm"] + wait, abs=1e-6)


def test_encoder_starts_afresh_while_nothing_is_said(rec, clips):
    """After idle_reset_s (IDLE_RESET_S) of background without a speech step the encoder starts afresh (quietly: no
    event, the utterance count unchanged), so a request after a long wait is heard after at most that much
    background; not with idle_reset_s=None or reset_encoder=False, whose streams decode the wait in one go."""
    x, _, rate = clips
    wait = 3.2
    audio = np.concatenate([noise(wait, rate), x, noise(1.0, rate, 1)])
    offsets, finals = {}, {}
    for name, options in (("default", {}), ("off", {"idle_reset_s": None}), ("carry", {"reset_encoder": False}),
                          ("half", {"idle_reset_s": 0.5})):
        stream = EndpointingStream(rec, **options)
        run(stream, audio[:int(wait * rate)], rate)
        offsets[name] = stream.stream.step_offset * rec.seconds_per_step
        assert stream.utterance == 0
        events = run(stream, audio[int(wait * rate):], rate)
        finals[name] = [e for e in events if isinstance(e, FinalEndpoint)]
        assert len(finals[name]) == 1 and finals[name][0].utterance == 0
        assert all(w.start >= wait - 0.1 for w in finals[name][0].result.words)   # stream times
    assert offsets["off"] == offsets["carry"] == 0.0
    assert wait - IDLE_RESET_S - 0.2 < offsets["default"] <= wait and wait - 0.5 - 0.2 < offsets["half"] <= wait
    assert offsets["default"] != offsets["half"]
    # Starting afresh before the request, it is heard as in a stream that starts there.
    late = audio[int(offsets["default"] * rate):]
    alone = [e for e in run(EndpointingStream(rec, idle_reset_s=None), late, rate) if isinstance(e, FinalEndpoint)]
    assert finals["default"][0].result.text == alone[0].result.text
    for bad in (0, -1.0, float("inf"), float("nan"), True, "1"):
        with pytest.raises(ValueError, match="idle_reset_s"):
            EndpointingStream(rec, idle_reset_s=bad)


def test_listen_resets_the_encoder_after_each_request_unless_told_not_to(tmp_path, capsys, clips):
    """Three requests in one file: `edgeasr listen` hears them as EndpointingStream does by default (the encoder
    reset after each request); --no-reset-encoder carries the state over and hears the later ones otherwise."""
    import soundfile as sf

    x, y, rate = clips
    audio = np.concatenate([x, noise(1.0, rate), y, noise(1.0, rate, 1), x, noise(1.0, rate, 2)])
    path = tmp_path / "three.wav"
    sf.write(path, audio, rate)
    texts = {}
    for extra in ([], ["--reset-encoder"], ["--no-reset-encoder"]):
        assert cli_main(["listen", "--file", str(path), "--json", *extra]) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        texts[" ".join(extra)] = [r["text"] for r in records if r["kind"] == "FinalEndpoint"]
    assert len(texts[""]) == 3 and texts[""] == texts["--reset-encoder"]
    stream = EndpointingStream(Recognizer(config=RecognizerConfig(chunk_frames=4)))   # listen's defaults: 40 ms
    written, _ = load_audio(str(path))                                                # 16-bit, as listen reads it
    library = [e.result.text for e in run(stream, written, rate, chunk_s=0.04) if isinstance(e, FinalEndpoint)]
    assert texts[""] == library
    assert texts["--no-reset-encoder"][0] == texts[""][0] and texts["--no-reset-encoder"][1:] != texts[""][1:]
    assert cli_main(["listen", "--file", str(path), "--idle-reset-s", "0"]) == 0      # off
    capsys.readouterr()
    assert cli_main(["listen", "--file", str(path), "--idle-reset-s", "-1"]) == 1
    assert "idle_reset_s" in capsys.readouterr().err


def test_listen_gap_factor_is_passed_to_the_final_end_pointer_and_checked(capsys):
    path = str(DATA / "example.wav")
    assert cli_main(["listen", "--file", path, "--gap-factor", "2"]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["speculative", "final"]
    assert cli_main(["listen", "--file", path, "--gap-factor", "-1"]) == 1
    assert "gap_factor" in capsys.readouterr().err


def test_listen_realtime_paces_the_file(tmp_path, capsys, clips):
    import soundfile as sf
    import time

    x, _, rate = clips
    short = tmp_path / "short.wav"
    sf.write(short, x[:int(0.6 * rate)], rate)
    t0 = time.monotonic()
    assert cli_main(["listen", "--file", str(short), "--realtime"]) == 0
    assert time.monotonic() - t0 >= 0.55


def test_listen_without_a_microphone_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "sounddevice", None)   # as if the listen extra were missing
    assert cli_main(["listen"]) == 1
    err = capsys.readouterr().err
    assert "sounddevice" in err and "--file" in err
    assert cli_main(["listen", "--file", "/nonexistent.wav"]) == 1
    assert "nonexistent" in capsys.readouterr().err


def test_listen_with_a_grammar_keeps_every_utterance_to_its_phrases(tmp_path, capsys):
    """The bundled clip says "computer set a timer for ten minutes": with that among the phrases it is what the final
    end-point carries; with only other phrases the result is one of them or nothing."""
    path = str(DATA / "example.wav")
    grammar = tmp_path / "grammar.txt"
    for phrases, allowed in ((["stop", "computer set a timer for ten minutes", "computer call mum"],
                              {"computer set a timer for ten minutes"}),
                             (["stop", "computer call mum"], {"stop", "computer call mum", ""})):
        grammar.write_text("\n".join(phrases) + "\n")
        assert cli_main(["listen", "--file", path, "--json", "--grammar", str(grammar)]) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        finals = [r for r in records if r["kind"] == "FinalEndpoint"]
        assert all(r["text"] in allowed for r in records) and (finals or "" in allowed)
    assert cli_main(["listen", "--file", path, "--grammar-repeat"]) == 1
    assert "needs --grammar" in capsys.readouterr().err


def test_end_pointers_decide_every_encoder_step_whatever_the_recognizers_chunk(rec, clips):
    """EndpointingStream decides after every encoder step by default (as its settings were tuned), so a recognizer
    with the default 16-frame chunk gives the same events as one with 4; chunk_frames=16 decides only every 160 ms:
    never sooner, and with the same words, up to the first final end-point (after it the encoder's idle reset and the
    next utterance fall where each stream decided, so the two decode different things)."""
    x, y, rate = clips
    # 40 ms of noise first, so that the first end-points do not fall on the 160 ms chunks' ends.
    audio = np.concatenate([noise(0.04, rate, seed=2), x, noise(1.0, rate), y, noise(1.5, rate, seed=1)])

    def events(recognizer, **options):
        stream = EndpointingStream(recognizer, **options)
        evs = run(stream, audio, rate, chunk_s=0.04) + stream.input_finished()
        return [(type(e).__name__, e.utterance, round(e.time, 6),
                 e.result.text if hasattr(e, "result") else None) for e in evs]

    default_chunk = Recognizer()  # the bundled model and its LM, as rec, at RecognizerConfig()'s chunk of 16 frames
    assert default_chunk.config.chunk_frames == 16 and rec.config.chunk_frames == 4
    fine = events(rec)
    assert events(default_chunk) == fine
    # With the encoder state carried over, the encoder's output does not depend on where a decision fell.
    fine = [e for e in events(rec, reset_encoder=False) if e[1] == 0]
    coarse = [e for e in events(default_chunk, chunk_frames=16, reset_encoder=False) if e[1] == 0]
    assert [(k, t) for k, _, _, t in coarse] == [(k, t) for k, _, _, t in fine] and fine[-1][0] == "FinalEndpoint"
    assert all(c[2] >= f[2] - 1e-9 for c, f in zip(coarse, fine))
    assert coarse != fine  # the check can fail: some decision waits for the end of its 160 ms chunk
    with pytest.raises(ValueError, match="chunk_frames"):
        EndpointingStream(rec, chunk_frames=6)  # not a multiple of the subsampling (4)


def test_a_streams_own_chunk_changes_when_it_decodes_not_what(rec, clips):
    x, _, rate = clips
    results = []
    for chunk in (None, 4, 32):
        stream = rec.create_stream(chunk_frames=chunk)
        assert stream.chunk_frames == (chunk or rec.config.chunk_frames)
        stream.accept_waveform(x, rate)
        stream.input_finished()
        r = stream.result()
        results.append((r.text, r.score, tuple(r.timestamps)))
    assert results[0] == results[1] == results[2]
    with pytest.raises(ValueError, match="chunk_frames"):
        rec.create_stream(chunk_frames=0)
