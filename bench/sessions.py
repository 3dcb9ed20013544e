"""Requests in a row on one always-listening stream: is the fifth request recognized as well as the first?

``edgeasr listen`` and ``EndpointingStream`` run one stream for as long as the microphone is open: after each final
end-point the search starts afresh, and the encoder's LSTM state either carries on (the audio is continuous) or is
reset to a fresh stream's (``reset_encoder``); while nothing is said, the encoder also starts afresh every
``idle_reset_s`` of background. This harness plays sessions of ``--per-session`` requests of one voice each, back to
back, each clip followed by a pause of ``--gap-s``, through ``EndpointingStream`` in ``--feed-ms`` pieces, and scores
each request's words by its position in the session.

A session is one room: its background must go on across requests. The main corpora's clips each carry their own
noise (colour and level drawn per clip), and joining them would put a jump in the background at every join, which no
room makes and to which the model reacts as to speech. So the sessions are requests synthesized without added noise,
joined by digital silence, and ``--snr-db`` adds one continuous noise (``--noise-color``, seeded per session) over
the whole session at that SNR against the session's speech. The corpus (default ``sessions``; any corpus works, its
clips with added noise left out) is built once, in seconds:

    python -m edgeasr.train.corpus --name sessions --split dev --n 600 --augment none     # the training voices
    python -m edgeasr.train.corpus --name sessions --split test --n 1000 --augment none   # the held-out voices
    python bench/sessions.py --split dev --out bench/results/sessions-dev     # choose on dev
    python bench/sessions.py                                 # held-out: bench/results/sessions.{json,md}
    python bench/sessions.py --gap-s 8 --snr-db 15 --out bench/results/sessions-gap8-snr15

Systems: ``alone`` (each request in its own fresh stream: its clip and the pause after it cut from the same session
audio, so every request is heard as if it were the first), ``reset`` (one stream per session at the defaults: the
encoder reset at each final end-point and after each ``idle_reset_s`` of background), ``reset-no-idle`` (the same
without the idle reset) and ``carry`` (one stream per session, the encoder's state carried over, as before stop 26).
A final result's word belongs to the request whose span (its clip and the pause after it) holds the word's start
time, so an end-point inside a request (a cut-off) splits its words over two utterances but loses none. The
recognizer is ``Recognizer()``'s default unless ``--model`` / ``--no-lm`` / ``--beam`` say otherwise (the dev runs
that chose the resets were at beam 4, the default until stop 27: ``--beam 4`` reproduces them).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import functools  # noqa: E402
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
SYSTEMS = ("alone", "reset", "reset-no-idle", "carry")
RATE = 16000


def sessions_of(clips: list[dict], per_session: int) -> list[list[dict]]:
    """Each voice's clips in corpus order, cut into sessions of ``per_session`` (the last one may be shorter)."""
    by_voice: dict[str, list[dict]] = defaultdict(list)
    for c in clips:
        by_voice[c["voice"]].append(c)
    return [items[i:i + per_session] for _, items in sorted(by_voice.items())
            for i in range(0, len(items), per_session)]


@functools.lru_cache(maxsize=None)
def read_path(path: str) -> np.ndarray:
    """A clip's samples, read once: every system and every grid condition plays the same clips."""
    import soundfile as sf

    x, rate = sf.read(path, dtype="float32", always_2d=False)
    if rate != RATE or x.ndim != 1:
        raise BenchError(f"{path}: expected mono {RATE} Hz audio")
    x.flags.writeable = False
    return x


def positions(sessions: list[list[dict]]) -> list[int]:
    """Each request's place in its session (1 for the first), in the order the sessions are decoded."""
    return [i + 1 for s in sessions for i in range(len(s))]


def run_stream(rec, audio: np.ndarray, feed: int, reset_encoder: bool, idle_reset_s) -> tuple[list, int]:
    """Every final end-point's words (stream times) from one ``EndpointingStream`` over ``audio``, and their count."""
    from edgeasr.endpoint import EndpointingStream, FinalEndpoint

    stream = EndpointingStream(rec, reset_encoder=reset_encoder, idle_reset_s=idle_reset_s)
    events = []
    for i in range(0, audio.size, feed):
        events += stream.accept_waveform(audio[i:i + feed], RATE)
    events += stream.input_finished()
    finals = [e for e in events if isinstance(e, FinalEndpoint)]
    return [w for e in finals for w in e.result.words], len(finals)


def session_audio(session: list[dict], gap_s: float, snr_db, color: str, seed: int) -> tuple[np.ndarray, list]:
    """The session's audio (each clip, then ``gap_s`` of digital silence; with ``snr_db``, one continuous noise over
    all of it) and each request's span in samples."""
    pieces = [np.concatenate([read_path(c["path"]), np.zeros(int(round(gap_s * RATE)), np.float32)]) for c in session]
    bounds = np.cumsum([0] + [p.size for p in pieces])
    audio = np.concatenate(pieces).astype(np.float64)
    if snr_db is not None:
        from edgeasr.train.synth import colored_noise  # the corpus's own noise (the train extra)

        speech = np.concatenate([audio[b + int(c["speech_start"] * RATE):b + int(c["speech_end"] * RATE)]
                                 for b, c in zip(bounds, session)])
        noise = colored_noise(audio.size, color, np.random.default_rng(seed), RATE).astype(np.float64)
        audio += noise * np.sqrt(np.mean(speech ** 2) / 10.0 ** (snr_db / 10.0))
    return audio.astype(np.float32), list(zip(bounds[:-1], bounds[1:]))


def decode_session(rec, audio: np.ndarray, spans: list, system: str, feed: int,
                   idle_reset_s) -> tuple[list[str], int]:
    """One hypothesis per request of the session, and the number of final end-points. ``idle_reset_s`` is the
    ``reset`` system's (the others have none)."""
    if system == "alone":
        hyps, finals = [], 0
        for a, b in spans:
            words, n = run_stream(rec, audio[a:b], feed, False, None)
            hyps.append(" ".join(w.word for w in words))
            finals += n
        return hyps, finals
    starts = np.array([a for a, _ in spans]) / RATE
    words, finals = run_stream(rec, audio, feed, system != "carry", idle_reset_s if system == "reset" else None)
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


def decode_all(rec, sessions: list[list[dict]], system: str, gap_s: float, snr_db, color: str, feed: int,
               idle) -> tuple[list[str], int]:
    """Every request's hypothesis, session after session, and the number of final end-points."""
    hyps, finals = [], 0
    for k, s in enumerate(sessions):
        audio, spans = session_audio(s, gap_s, snr_db, color, seed=k)
        h, n = decode_session(rec, audio, spans, system, feed, idle)
        hyps += h
        finals += n
    return hyps, finals


def idle_grid(rec, sessions: list[list[dict]], a, feed: int) -> dict:
    """``reset`` at each ``--idle-grid`` value under every pause (``--grid-gaps``) and noise (``--grid-snrs``):
    WER of requests 2 and later. The rule: the lowest mean over the conditions (ties: the first value listed)."""
    values = [None if v == "off" else float(v) for v in a.idle_grid.split(",")]
    conditions = [(float(g), None if n == "none" else float(n)) for g in a.grid_gaps.split(",")
                  for n in a.grid_snrs.split(",")]
    later = [p > 1 for p in positions(sessions)]
    refs = [c["text"] for c, keep in zip((c for s in sessions for c in s), later) if keep]
    table = []
    for v in values:
        row = []
        for gap, snr in conditions:
            hyps, _ = decode_all(rec, sessions, "reset", gap, snr, a.noise_color, feed, v)
            row.append(score(refs, [h for h, keep in zip(hyps, later) if keep])["wer"])
            print(f"idle_reset_s {v}, pause {gap:g} s, SNR {snr}: requests 2+ {_pct(row[-1])}", flush=True)
        table.append({"idle_reset_s": v, "wer": row, "mean": float(np.mean(row))})
    best = min(range(len(table)), key=lambda i: (table[i]["mean"], i))
    return {"conditions": [{"gap_s": g, "snr_db": n} for g, n in conditions], "rows": table,
            "chosen": table[best]["idle_reset_s"], "requests_scored": len(refs), "noise_color": a.noise_color}


def grid_markdown(report: dict) -> str:
    g = report["grid"]
    heads = [f"pause {c['gap_s']:g} s, " + ("no noise" if c["snr_db"] is None else f"{c['snr_db']:g} dB "
                                          f"{g['noise_color']}") for c in g["conditions"]]
    lines = [f"# The idle reset of the encoder ({report['corpus']})", "",
             f"`{report['command']}` — {report['date']}, git {report['git']}, {report['machine']['model']}", "",
             f"{report['sessions']} sessions of up to {report['per_session']} requests of one voice "
             f"({report['clips']} clips synthesized without added noise), one stream per session at "
             f"`EndpointingStream`'s defaults but `idle_reset_s` ({report['recognizer']}); WER of the "
             f"{g['requests_scored']} requests 2 and later. Rule: the lowest mean over the conditions.", "",
             "| idle_reset_s | " + " | ".join(heads) + " | mean |", "|---|" + "---:|" * (len(heads) + 1)]
    for r in g["rows"]:
        name = "off" if r["idle_reset_s"] is None else f"{r['idle_reset_s']:g} s"
        if r["idle_reset_s"] == g["chosen"]:
            name = f"**{name}** (chosen)"
        lines.append(f"| {name} | " + " | ".join(_pct(w) for w in r["wer"]) + f" | {_pct(r['mean'])} |")
    return "\n".join(lines) + "\n"


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
                  "stream of its own; `reset`: one stream per session at `EndpointingStream`'s defaults, the "
                  "encoder reset at each final end-point and after each `idle_reset_s` "
                  f"({report.get('idle_reset_s', 'default')}) of background without speech; `reset-no-idle`: the "
                  "same without the idle reset (`idle_reset_s=None`); `carry`: one stream per session, the "
                  "encoder's LSTM state carried over from one request to the next (`reset_encoder=False`).",
              "", f"Times: {', '.join(f'{n} {s:.0f} s' for n, s in report['seconds'].items())}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default="sessions")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=0, help="clips, evenly over voices (0: all)")
    p.add_argument("--per-session", type=int, default=5, help="requests per session (default 5)")
    p.add_argument("--gap-s", type=float, default=1.0, help="pause after each request (default 1.0 s)")
    p.add_argument("--snr-db", type=float, help="one continuous noise over each session at this SNR (default: none)")
    p.add_argument("--noise-color", default="pink", help="white, pink or brown (default pink)")
    p.add_argument("--feed-ms", type=float, default=40.0, help="audio piece size (default 40 ms)")
    p.add_argument("--model", type=Path, help="model file (default: the bundled one)")
    p.add_argument("--no-lm", action="store_true", help="no n-gram LM (default: Recognizer()'s, the bundled LM)")
    p.add_argument("--beam", type=int, help="beam width (default: Recognizer()'s, 16)")
    p.add_argument("--idle-reset-s", default="default",
                   help="the reset system's EndpointingStream(idle_reset_s=): seconds, or off (default: the stream's "
                        "default, IDLE_RESET_S)")
    p.add_argument("--idle-grid", help="instead of the systems: reset at each of these idle_reset_s values (comma-"
                                       "separated, off for none) under every --grid-gaps and --grid-snrs")
    p.add_argument("--grid-gaps", default="1,3,8", help="--idle-grid: pauses in seconds (default 1,3,8)")
    p.add_argument("--grid-snrs", default="none,15",
                   help="--idle-grid: SNRs in dB, none for no noise (default none,15)")
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
    from edgeasr import Recognizer, RecognizerConfig
    from edgeasr.endpoint.stream import IDLE_RESET_S

    try:
        clips = even_over_voices([c for c in load_clips(a.corpus, a.split) if not c["noisy"]], a.limit)
        config = RecognizerConfig() if a.beam is None else RecognizerConfig(beam=a.beam)
        rec = Recognizer(a.model, config, lm=None if a.no_lm else "auto")
    except (BenchError, ValueError) as e:
        hint = (f" (the default corpus: python -m edgeasr.train.corpus --name sessions --split {a.split} --n "
                f"{600 if a.split == 'dev' else 1000} --augment none)" if a.corpus == "sessions" else "")
        print(f"sessions: error: {e}{hint}", file=sys.stderr)
        return 1
    if not clips:
        print(f"sessions: error: {a.corpus}/{a.split} has no clip without added noise", file=sys.stderr)
        return 1
    sessions = sessions_of(clips, a.per_session)
    try:
        idle = {"default": IDLE_RESET_S, "off": None}.get(a.idle_reset_s) if a.idle_reset_s in ("default", "off") \
            else float(a.idle_reset_s)
    except ValueError:
        print(f"sessions: error: --idle-reset-s: expected seconds, off or default, got {a.idle_reset_s!r}",
              file=sys.stderr)
        return 1
    feed = max(1, int(round(a.feed_ms * RATE / 1000)))
    report = {"command": "python bench/sessions.py" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])
                                                      if (argv or sys.argv[1:]) else ""),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "git": git_revision(), "machine": cpu_description(),
              "packages": package_versions(["numpy", "jiwer"]), "corpus": f"{a.corpus}/{a.split}",
              "clips": len(clips), "sessions": len(sessions), "per_session": a.per_session, "gap_s": a.gap_s,
              "idle_reset_s": idle, "snr_db": a.snr_db,
              "noise_color": a.noise_color if a.snr_db is not None else None,
              "feed_ms": a.feed_ms, "recognizer": f"model {a.model or 'bundled'}, "
              + ("no LM" if rec.lm is None else "with the bundled n-gram LM") + f", beam {rec.config.beam}",
              "systems": {}, "seconds": {}, "requests": []}
    if a.idle_grid:
        report["grid"] = idle_grid(rec, sessions, a, feed)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{a.out}.json").write_text(json.dumps(report, indent=1))
        Path(f"{a.out}.md").write_text(grid_markdown(report))
        print(f"chose idle_reset_s {report['grid']['chosen']}; wrote {a.out}.json and {a.out}.md")
        return 0
    per_request = [{"uid": c["uid"], "voice": c["voice"], "position": p, "reference": c["text"]}
                   for c, p in zip((c for s in sessions for c in s), positions(sessions))]
    for name in systems:
        t0 = time.perf_counter()
        hyps, finals = decode_all(rec, sessions, name, a.gap_s, a.snr_db, a.noise_color, feed, idle)
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
