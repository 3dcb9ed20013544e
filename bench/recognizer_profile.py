"""Where edgeasr's decoding time goes per second of audio: front end, encoder, search, graph building and the rest
(CPU time, 1 thread, median of runs), for greedy search, for beam 4 with a list of biasing phrases, and for the
recognizer's defaults (beam 16 with the bundled n-gram LM).

Usage: python bench/recognizer_profile.py [--model FILE] [--audio FILE] [--runs 30] [--phrases 100] [--context FILE]
Defaults: the bundled model and clip; the phrases are --context's lines, else --phrases two-word phrases drawn
(seeded) from the whole-word pieces of the model's tokens, so the graph has the size of a real list.
Writes bench/results/recognizer_profile.{json,md} (--stem renames them, e.g. recognizer_profile-avx2 for a run with
EDGEASR_ISA=avx2).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from machine import cpu_description, git_revision, package_versions  # noqa: E402

from edgeasr import _core  # noqa: E402
from edgeasr.audio import load_audio  # noqa: E402
from edgeasr.features import compute_fbank  # noqa: E402
from edgeasr.recognizer import Recognizer, RecognizerConfig, default_lm_path, default_model_path  # noqa: E402
from edgeasr.tokens import WORD_START  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_ms(fn, runs: int) -> float:
    """Median process CPU time of fn() in ms, after one untimed call."""
    fn()
    times = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        times.append((time.process_time() - t) * 1000)
    return statistics.median(times)


def default_phrases(rec: Recognizer, n: int) -> list[str]:
    words = sorted({p[1:] for p in rec.tokens.pieces if p.startswith(WORD_START) and len(p) > 3 and p[1:].isalpha()})
    rng = random.Random(0)
    phrases: set[str] = set()
    while len(phrases) < n and len(words) > 1:
        phrases.add(" ".join(rng.sample(words, 2)))
    return sorted(phrases)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=default_model_path())
    p.add_argument("--audio", type=Path, default=default_model_path().parent / "example.wav")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--phrases", type=int, default=100, help="biasing phrases when --context is not given")
    p.add_argument("--context", type=Path, help="biasing phrases, one per line")
    p.add_argument("--stem", default="recognizer_profile", help="output file names in bench/results/")
    a = p.parse_args()

    samples, rate = load_audio(a.audio, sample_rate=16000)
    seconds = samples.size / rate
    greedy = Recognizer(a.model, RecognizerConfig(decoding="greedy_search"))
    beam = Recognizer(greedy.model, RecognizerConfig(beam=4))
    # The defaults: beam 16 with the bundled LM, which is made for the bundled model's tokens only.
    lm = default_lm_path() if a.model == default_model_path() else None
    wide = Recognizer(greedy.model, RecognizerConfig(), lm=lm)
    wide_name = f"beam {wide.config.beam}{' + n-gram LM' if lm else ''} (the defaults)"
    phrases = (a.context.read_text(encoding="utf-8").splitlines() if a.context
               else default_phrases(greedy, a.phrases))
    phrases = [x for x in phrases if x.strip()]
    graph = beam.context_graph(phrases)
    net, pieces = greedy.network, list(greedy.tokens.pieces)
    feats = compute_fbank(samples, rate)
    steps = feats.shape[0] // greedy.model.subsampling
    enc = net.project_encoder(net.encode(feats, net.init_state()))

    def search(make):
        s = make()
        s.accept_frames(enc)
        s.finalize()
        s.result()

    def streamed(rec, piece_s: float = 0.1, partials: bool = False):  # as a microphone feeds it, 100 ms at a time
        stream = rec.create_stream(chunk_frames=rec.model.subsampling if partials else None)
        step = int(piece_s * rate)
        for i in range(0, samples.size, step):
            stream.accept_waveform(samples[i:i + step], rate)
            if partials:  # an application that shows the words so far after every piece
                stream.result()
        stream.input_finished()
        stream.result()

    rows = {
        "front end: compute_fbank (native kaldi-native-fbank; checks and frames out)": cpu_ms(
            lambda: compute_fbank(samples, rate), a.runs),
        "encoder, whole clip in one call": cpu_ms(lambda: net.encode(feats, net.init_state()), a.runs),
        "greedy search (+ result)": cpu_ms(lambda: search(lambda: greedy._search(None)), a.runs),
        "beam 4 search (+ result and lattice)": cpu_ms(lambda: search(lambda: beam._search(None)), a.runs),
        f"beam 4 + {len(phrases)} phrases search (+ result and lattice)": cpu_ms(
            lambda: search(lambda: beam._search(graph)), a.runs),
        f"{wide_name} search (+ result and lattice)": cpu_ms(lambda: search(lambda: wide._search(None)), a.runs),
        f"context graph, {len(phrases)} phrases (tokenized and built)": cpu_ms(lambda: beam.context_graph(phrases),
                                                                           a.runs),
        "transcribe, greedy (all of it)": cpu_ms(lambda: greedy.transcribe(samples, rate).result(), a.runs),
        "transcribe, beam 4 (all of it)": cpu_ms(lambda: beam.transcribe(samples, rate).result(), a.runs),
        "greedy, fed in 100 ms pieces (all of it)": cpu_ms(lambda: streamed(greedy), a.runs),
        "beam 4, fed in 100 ms pieces (all of it)": cpu_ms(lambda: streamed(beam), a.runs),
        f"transcribe, beam 4 + {len(phrases)} phrases (graph built per call)": cpu_ms(
            lambda: beam.transcribe(samples, rate, context=beam.context_graph(phrases)).result(), a.runs),
        f"transcribe, {wide_name} (all of it)": cpu_ms(lambda: wide.transcribe(samples, rate).result(), a.runs),
        f"{wide_name}, fed in 40 ms pieces, decoded and result() after each (all of it)": cpu_ms(
            lambda: streamed(wide, 0.04, partials=True), a.runs),
    }
    report = {"model": str(a.model), "audio": str(a.audio), "seconds": seconds, "encoder_steps": steps,
              "phrases": len(phrases), "ms": rows, "ms_per_audio_second": {k: v / seconds for k, v in rows.items()},
              "encoder_us_per_step": rows["encoder, whole clip in one call"] * 1000 / steps,
              "cpu": cpu_description(), "versions": package_versions(("edgeasr", "numpy")),
              "git": git_revision(), "isa": _core.active_isa(),
              "command": "python " + " ".join(shlex.quote(x) for x in sys.argv)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{a.stem}.json").write_text(json.dumps(report, indent=2))
    greedy_total = rows["transcribe, greedy (all of it)"]
    biased_total = rows[f"transcribe, beam 4 + {len(phrases)} phrases (graph built per call)"]
    lines = [f"# Where decoding time goes: {a.audio.name} ({seconds:.2f} s, {steps} encoder steps)", "",
             f"CPU time, median of {a.runs} runs, 1 thread; {report['cpu']['model']}, kernels {report['isa']}, "
             f"git {report['git']}. Command: `{report['command']}`. Phrases: {len(phrases)}"
             f"{' from ' + str(a.context) if a.context else ' drawn from the model pieces (seeded)'}.", "",
             "ms per audio second = CPU real-time factor x 1000.", "",
             "| part | ms per clip | ms per audio second | share of greedy transcribe | share of beam 4 + phrases |",
             "|---|---:|---:|---:|---:|"]
    for name, ms in rows.items():
        lines.append(f"| {name} | {ms:.2f} | {ms / seconds:.3f} | {ms / greedy_total:.0%} | {ms / biased_total:.0%} |")
    lines += ["", f"Encoder: {report['encoder_us_per_step']:.1f} µs per step (whole-clip call)."]
    (RESULTS / f"{a.stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
