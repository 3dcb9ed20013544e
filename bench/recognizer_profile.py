"""Where one clip's decoding time goes in edgeasr: features, encoder, search (CPU time, 1 thread, median of runs).

Usage: python bench/recognizer_profile.py [--model FILE] [--audio FILE] [--runs 30]
Defaults: the bundled model and clip. Writes bench/results/recognizer_profile.{json,md}.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
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
from edgeasr.recognizer import Recognizer, RecognizerConfig, default_model_path  # noqa: E402

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=default_model_path())
    p.add_argument("--audio", type=Path, default=default_model_path().parent / "example.wav")
    p.add_argument("--runs", type=int, default=30)
    a = p.parse_args()

    samples, rate = load_audio(a.audio, sample_rate=16000)
    seconds = samples.size / rate
    greedy = Recognizer(a.model, RecognizerConfig(decoding="greedy_search"))
    beam = Recognizer(a.model, RecognizerConfig(beam=4))
    net, pieces, chunk = greedy.network, list(greedy.tokens.pieces), greedy.config.chunk_frames
    feats = compute_fbank(samples, rate)
    steps = feats.shape[0] // greedy.model.subsampling

    def encode_chunked():
        state = net.init_state()
        for i in range(0, feats.shape[0], chunk):
            net.encode(np.ascontiguousarray(feats[i:i + chunk]), state)

    enc = net.project_encoder(net.encode(feats, net.init_state()))

    def search(cls):
        s = cls(net, pieces)
        s.accept_frames(enc)
        s.finalize()
        s.result()

    rows = {
        "features (kaldi-native-fbank, whole clip)": cpu_ms(lambda: compute_fbank(samples, rate), a.runs),
        f"encoder, chunks of {chunk} frames": cpu_ms(encode_chunked, a.runs),
        "encoder, whole clip in one call": cpu_ms(lambda: net.encode(feats, net.init_state()), a.runs),
        "greedy search (+ result)": cpu_ms(lambda: search(_core.GreedySearch), a.runs),
        "beam 4 search (+ result and lattice)": cpu_ms(lambda: search(_core.BeamSearch), a.runs),
        "transcribe, greedy (all of it)": cpu_ms(lambda: greedy.transcribe(samples, rate).result(), a.runs),
        "transcribe, beam 4 (all of it)": cpu_ms(lambda: beam.transcribe(samples, rate).result(), a.runs),
    }
    report = {"model": str(a.model), "audio": str(a.audio), "seconds": seconds, "encoder_steps": steps,
              "ms": rows, "encoder_us_per_step": rows["encoder, whole clip in one call"] * 1000 / steps,
              "cpu": cpu_description(), "versions": package_versions(("edgeasr", "numpy", "kaldi-native-fbank")),
              "git": git_revision(), "isa": _core.active_isa(),
              "command": "python " + " ".join(shlex.quote(x) for x in sys.argv)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recognizer_profile.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Where decoding time goes: {a.audio.name} ({seconds:.2f} s, {steps} encoder steps)", "",
             f"CPU time per clip, median of {a.runs} runs, 1 thread; {report['cpu']['model']}, kernels "
             f"{report['isa']}, git {report['git']}. Command: `{report['command']}`.", "",
             "| part | ms per clip | share of greedy transcribe |", "|---|---:|---:|"]
    total = rows["transcribe, greedy (all of it)"]
    for name, ms in rows.items():
        lines.append(f"| {name} | {ms:.2f} | {ms / total:.0%} |")
    lines += ["", f"Encoder: {report['encoder_us_per_step']:.0f} µs per step (whole-clip call)."]
    (RESULTS / "recognizer_profile.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
