"""Requests in a row on one always-listening stream: is the fifth request recognized as well as the first?

``edgeasr listen`` and ``EndpointingStream`` run one stream for as long as the microphone is open: after each final
end-point the search starts afresh, and the encoder's LSTM state either carries on (the audio is continuous) or is
reset to a fresh stream's (``reset_encoder``). This harness plays sessions of ``--per-session`` requests of one voice
each, back to back, each clip followed by a pause of ``--gap-s``, through ``EndpointingStream`` in ``--feed-ms``
pieces, and scores each request's words by its position in the session:

    python bench/sessions.py --split dev --out bench/results/sessions-dev     # choose on dev (training voices)
    python bench/sessions.py                                 # held-out voices: bench/results/sessions.{json,md}
    python bench/sessions.py --snr-db 15                     # the same in one room's continuous noise

A session is one room: its background must go on across requests. The corpus's clips each carry their own noise
(colour and level drawn per clip), and joining them would put a jump in the background at every join, which no room
makes and to which the model reacts as to speech. So the sessions use the clips synthesized without added noise (a
split's ``noisy`` = false ones: about a quarter; reverberation and telephone band as they come), joined by digital
silence, and ``--snr-db`` adds one continuous noise (``--noise-color``, seeded per session) over the whole session
at that SNR against the session's speech.

Systems: ``alone`` (each request in its own fresh stream: its clip and the pause after it cut from the same session
audio, so every request is heard as if it were the first), ``carry`` (one stream per session, the encoder's state
carried over) and ``reset`` (one stream per session, the encoder reset at each final end-point). A final result's
word belongs to the request whose span (its clip and the pause after it) holds the word's start time, so an
end-point inside a request (a cut-off) splits its words over two utterances but loses none. The recognizer is
``Recognizer()``'s default unless ``--model`` / ``--no-lm`` say otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from e2e import BenchError, even_over_voices, load_clips  # noqa: E402
from machine import cpu_description, git_revision, package_versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEMS = ("alone", "carry", "reset")
RATE = 16000


def sessions_of(clips: list[dict], per_session: int) -> list[list[dict]]:
    """Each voice's clips in corpus order, cut into sessions of ``per_session`` (the last one may be shorter)."""
    by_voice: dict[str, list[dict]] = defaultdict(list)
    for c in clips:
        by_voice[c["voice"]].append(c)
    return [items[i:i + per_session] for _, items in sorted(by_voice.items())
            for i in range(0, len(items), per_session)]


def read(clip: dict) -> np.ndarray:
    import soundfile as sf

    x, rate = sf.read(clip["path"], dtype="float32", always_2d=False)
    if rate != RATE or x.ndim != 1:
        raise BenchError(f"{clip['path']}: expected mono {RATE} Hz audio")
    return x


def run_stream(rec, audio: np.ndarray, feed: int, reset_encoder: bool) -> list:
    """Every final end-point's words (stream times) from one ``EndpointingStream`` over ``audio``."""
    from edgeasr.endpoint import EndpointingStream, FinalEndpoint

    stream = EndpointingStream(rec, reset_encoder=reset_encoder)
    events = []
    for i in range(0, audio.size, feed):
        events += stream.accept_waveform(audio[i:i + feed], RATE)
    events += stream.input_finished()
    finals = [e for e in events if isinstance(e, FinalEndpoint)]
    return [w for e in finals for w in e.result.words], len(finals)


def session_audio(session: list[dict], gap_s: float, snr_db, color: str, seed: int) -> tuple[np.ndarray, list]:
    """The session's audio (each clip, then ``gap_s`` of digital silence; with ``snr_db``, one continuous noise over
    all of it) and each request's span in samples."""
    pieces = [np.concatenate([read(c), np.zeros(int(round(gap_s * RATE)), np.float32)]) for c in session]
    bounds = np.cumsum([0] + [p.size for p in pieces])
    audio = np.concatenate(pieces).astype(np.float64)
    if snr_db is not None:
        from edgeasr.train.synth import colored_noise  # the corpus's own noise (the train extra)

        speech = np.concatenate([audio[b + int(c["speech_start"] * RATE):b + int(c["speech_end"] * RATE)]
                                 for b, c in zip(bounds, session)])
        noise = colored_noise(audio.size, color, np.random.default_rng(seed), RATE).astype(np.float64)
        audio += noise * np.sqrt(np.mean(speech ** 2) / 10.0 ** (snr_db / 10.0))
    return audio.astype(np.float32), list(zip(bounds[:-1], bounds[1:]))


def decode_session(rec, audio: np.ndarray, spans: list, system: str, feed: int) -> tuple[list[str], int]:
    """One hypothesis per request of the session, and the number of final end-points."""
    if system == "alone":
        hyps, finals = [], 0
        for a, b in spans:
            words, n = run_stream(rec, audio[a:b], feed, reset_encoder=False)
            hyps.append(" ".join(w.word for w in words))
            finals += n
        return hyps, finals
    starts = np.array([a for a, _ in spans]) / RATE
    words, finals = run_stream(rec, audio, feed, reset_encoder=(system == "reset"))
    buckets: list[list[str]] = [[] for _ in spans]
    for w in words:
        i = int(np.clip(np.searchsorted(starts, w.start, side="right") - 1, 0, len(spans) - 1))
        buckets[i].append(w.word)
    return [" ".join(b) for b in buckets], finals


def score(refs: list[str], hyps: list[str]) -> dict:
    import jiwer

    if not refs:
        return {"wer": None, "requests": 0, "words": 0, "errors": 0}
    o = jiwer.process_words(refs, hyps)
    words = o.hits + o.substitutions + o.deletions
    errors = o.substitutions + o.deletions + o.insertions
    return {"wer": errors / words if words else None, "requests": len(refs), "words": words, "errors": errors,
            "deletions": o.deletions, "insertions": o.insertions, "substitutions": o.substitutions,
            "exact": sum(r == h for r, h in zip(refs, hyps))}


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f} %"


def markdown(report: dict) -> str:
    k = report["per_session"]
    lines = [f"# Requests in a row on one stream ({report['corpus']})", "",
             f"`{report['command']}` — {report['date']}, git {report['git']}, {report['machine']['model']}", "",
             f"{report['sessions']} sessions of up to {k} requests of one voice ({report['clips']} clips synthesized "
             f"without added noise), each clip followed by {report['gap_s']:g} s of silence, "
             + (f"{report['noise_color']} noise at {report['snr_db']:g} dB SNR over the whole session, "
                if report["snr_db"] is not None else "no noise, ")
             + f"fed in {report['feed_ms']:g} ms pieces through `EndpointingStream` ({report['recognizer']}). A final "
             "result's word counts for the request whose clip and pause hold its start time.", "",
             "| system | " + " | ".join(f"request {i}" for i in range(1, k + 1))
             + " | requests 2 and later | all | exact requests | final end-points |",
             "|---|" + "---:|" * (k + 4)]
    for name, r in report["systems"].items():
        cells = [_pct(r["by_position"][str(i)]["wer"]) for i in range(1, k + 1)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_pct(r['later']['wer'])} | {_pct(r['all']['wer'])}"
                     f" | {r['all']['exact']} of {r['all']['requests']} | {r['finals']} |")
    lines += ["", "WER per request position (word errors over reference words). `alone`: every request in a fresh "
                  "stream of its own; `carry`: one stream per session, the encoder's LSTM state carried over from "
                  "one request to the next (`EndpointingStream(reset_encoder=False)`); `reset`: the same stream, "
                  "the encoder reset at each final end-point (`reset_encoder=True`).",
              "", f"Times: {', '.join(f'{n} {s:.0f} s' for n, s in report['seconds'].items())}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default="v1")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=0, help="clips, evenly over voices (0: all)")
    p.add_argument("--per-session", type=int, default=5, help="requests per session (default 5)")
    p.add_argument("--gap-s", type=float, default=1.0, help="pause after each request (default 1.0 s)")
    p.add_argument("--snr-db", type=float, help="one continuous noise over each session at this SNR (default: none)")
    p.add_argument("--noise-color", default="pink", help="white, pink or brown (default pink)")
    p.add_argument("--feed-ms", type=float, default=40.0, help="audio piece size (default 40 ms)")
    p.add_argument("--model", type=Path, help="model file (default: the bundled one)")
    p.add_argument("--no-lm", action="store_true", help="no n-gram LM (default: Recognizer()'s, the bundled LM)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    p.add_argument("--out", type=Path, default=RESULTS / "sessions", help="results stem")
    a = p.parse_args(argv)
    systems = [s for s in a.systems.split(",") if s]
    if not systems or any(s not in SYSTEMS for s in systems):
        print(f"sessions: error: --systems: expected names from {', '.join(SYSTEMS)}, got {a.systems!r}",
              file=sys.stderr)
        return 1
    if a.per_session < 1 or a.gap_s < 0 or a.feed_ms <= 0:
        print("sessions: error: --per-session must be >= 1, --gap-s >= 0 and --feed-ms > 0", file=sys.stderr)
        return 1
    from edgeasr import Recognizer

    try:
        clips = even_over_voices([c for c in load_clips(a.corpus, a.split) if not c["noisy"]], a.limit)
        rec = Recognizer(a.model, lm=None if a.no_lm else "auto")
    except (BenchError, ValueError) as e:
        print(f"sessions: error: {e}", file=sys.stderr)
        return 1
    sessions = sessions_of(clips, a.per_session)
    feed = max(1, int(round(a.feed_ms * RATE / 1000)))
    report = {"command": "python bench/sessions.py" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])
                                                      if (argv or sys.argv[1:]) else ""),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "git": git_revision(), "machine": cpu_description(),
              "packages": package_versions(["numpy", "jiwer"]), "corpus": f"{a.corpus}/{a.split}",
              "clips": len(clips), "sessions": len(sessions), "per_session": a.per_session, "gap_s": a.gap_s,
              "snr_db": a.snr_db, "noise_color": a.noise_color if a.snr_db is not None else None,
              "feed_ms": a.feed_ms, "recognizer": f"model {a.model or 'bundled'}, "
              + ("no LM" if rec.lm is None else "with the bundled n-gram LM") + f", beam {rec.config.beam}",
              "systems": {}, "seconds": {}, "requests": []}
    per_request = [{"uid": c["uid"], "voice": c["voice"], "position": i + 1, "reference": c["text"]}
                   for s in sessions for i, c in enumerate(s)]
    for name in systems:
        t0 = time.perf_counter()
        hyps, finals = [], 0
        for k, s in enumerate(sessions):
            audio, spans = session_audio(s, a.gap_s, a.snr_db, a.noise_color, seed=k)
            h, n = decode_session(rec, audio, spans, name, feed)
            hyps += h
            finals += n
        report["seconds"][name] = time.perf_counter() - t0
        for r, h in zip(per_request, hyps):
            r[name] = h
        refs = [r["reference"] for r in per_request]
        by_pos = {str(k): score([r for r, q in zip(refs, per_request) if q["position"] == k],
                                [h for h, q in zip(hyps, per_request) if q["position"] == k])
                  for k in range(1, a.per_session + 1)}
        later = [i for i, q in enumerate(per_request) if q["position"] > 1]
        report["systems"][name] = {"all": score(refs, hyps), "by_position": by_pos, "finals": finals,
                                   "later": score([refs[i] for i in later], [hyps[i] for i in later])}
        print(f"{name}: WER {_pct(report['systems'][name]['all']['wer'])}, requests 2+ "
              f"{_pct(report['systems'][name]['later']['wer'])} ({report['seconds'][name]:.0f} s)", flush=True)
    report["requests"] = per_request
    a.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{a.out}.json").write_text(json.dumps(report, indent=1))
    Path(f"{a.out}.md").write_text(markdown(report))
    print(f"wrote {a.out}.json and {a.out}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
