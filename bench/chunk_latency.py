"""Latency a streaming decoder adds per piece of audio: edgeasr and sherpa-onnx side by side, one thread each.

An application feeds the microphone's pieces (40 ms by default) and shows the words so far after each; what it waits
for is the time from handing over a piece to having the partial text, and at the end of the request the time from
"input finished" to the final text. Both are measured here per piece (wall clock, nanoseconds), on held-out clips
each followed by 0.5 s of silence as bench/e2e.py feeds them: edgeasr's ``accept_waveform`` + ``result()``, and
sherpa-onnx's ``accept_waveform`` + ``decode_stream`` while ready + ``get_result``. Reported: the median, p90, p99
and the largest per-piece time, and the final step's median and p99. The systems:

- edgeasr at its defaults (bundled int4 model, beam 16 + n-gram LM), decoding every 160 ms (the recognizer's
  ``chunk_frames`` 16) and every 40 ms (``create_stream(chunk_frames=4)``, what ``EndpointingStream`` uses);
- edgeasr beam 4 + LM every 40 ms;
- sherpa-onnx int8 beam 4 (its streaming model decodes a chunk of 16 frames when ready), the same weights.

    python bench/chunk_latency.py [--limit 200] [--piece-ms 40]

Writes bench/results/chunk_latency.{json,md,png} (``--name`` renames them). The machine is shared: the largest
times include whatever else ran; the median and p90 are the figures to compare.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from e2e import (BY_KEY, DEFAULT_CACHE, DEFAULT_TAIL_S, PEER_BLANK_PENALTY, SAMPLE_RATE, _read_clip,  # noqa: E402
                 even_over_voices, load_clips, prepare_models, resolve_checkpoint, sherpa_recognizer)
from machine import cpu_description, git_revision, package_versions  # noqa: E402

from edgeasr.recognizer import context_score_default  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def edgeasr_system(beam: int, chunk_frames: int):
    """A per-clip runner with the bundled model and LM: (per-piece ns, final ns, text)."""
    from edgeasr.recognizer import Recognizer, RecognizerConfig

    rec = Recognizer(None, RecognizerConfig(beam=beam, tail_padding_s=0.0))  # the clips come with their silence

    def run(samples: np.ndarray, piece: int):
        stream = rec.create_stream(chunk_frames=chunk_frames)
        times = []
        for i in range(0, samples.size, piece):
            t0 = time.perf_counter_ns()
            stream.accept_waveform(samples[i:i + piece], SAMPLE_RATE)
            stream.result()
            times.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        stream.input_finished()
        text = stream.result().text
        return times, time.perf_counter_ns() - t0, text

    return run


def sherpa_system(models: dict, beam: int):
    """sherpa-onnx int8 with bench/e2e.py's settings at ``beam``: the same runner."""
    rec = sherpa_recognizer(BY_KEY["sherpa-int8-beam"], {"models": models, "peer_beam": beam,
                                                          "peer_blank_penalty": PEER_BLANK_PENALTY,
                                                          "context_score": context_score_default(beam)})

    def text_of(stream) -> str:
        result = rec.get_result(stream)
        return result if isinstance(result, str) else result.text

    def run(samples: np.ndarray, piece: int):
        stream = rec.create_stream()
        times = []
        for i in range(0, samples.size, piece):
            t0 = time.perf_counter_ns()
            stream.accept_waveform(SAMPLE_RATE, samples[i:i + piece])
            while rec.is_ready(stream):
                rec.decode_stream(stream)
            text_of(stream)
            times.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        stream.input_finished()
        while rec.is_ready(stream):
            rec.decode_stream(stream)
        text = text_of(stream)
        return times, time.perf_counter_ns() - t0, text

    return run


def summary(ns: list[int]) -> dict:
    ms = np.asarray(ns, np.float64) / 1e6
    return {"pieces": int(ms.size), "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()), "mean_ms": float(ms.mean())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=200, help="held-out clips, evenly over the voices (0: all)")
    p.add_argument("--piece-ms", type=float, default=40.0, help="audio per piece handed over (default 40)")
    p.add_argument("--name", default="chunk_latency")
    a = p.parse_args(argv)
    if a.limit < 0 or not 1 <= a.piece_ms <= 1000:
        p.error("--limit >= 0 and --piece-ms in [1, 1000]")
    piece = int(round(a.piece_ms / 1000 * SAMPLE_RATE))
    models = prepare_models(resolve_checkpoint(None), DEFAULT_CACHE)
    clips = even_over_voices(load_clips("v1", "test"), a.limit)
    audio = [_read_clip(c, DEFAULT_TAIL_S) for c in clips]
    seconds = sum(x.size for x in audio) / SAMPLE_RATE
    systems = {"edgeasr beam 16 + n-gram LM (the defaults), decoding every 160 ms": edgeasr_system(16, 16),
               "edgeasr beam 16 + n-gram LM, decoding every 40 ms": edgeasr_system(16, 4),
               "edgeasr beam 4 + n-gram LM, decoding every 40 ms": edgeasr_system(4, 4),
               "sherpa-onnx int8 beam 4 (16-frame chunks)": sherpa_system(models, 4)}
    load = os.getloadavg()[0]
    rows, texts, raw = {}, {}, {}
    for name, run in systems.items():
        run(audio[0], piece)  # warm-up
        pieces, finals, out = [], [], []
        for x in audio:
            times, final, text = run(x, piece)
            pieces += times
            finals.append(final)
            out.append(text)
        rows[name] = {"per_piece": summary(pieces), "final": summary(finals),
                      "cpu_share": float(sum(pieces) + sum(finals)) / 1e9 / seconds}
        texts[name] = out
        raw[name] = np.asarray(pieces, np.float64) / 1e6
        print(f"{name}: median {rows[name]['per_piece']['median_ms']:.3f} ms, p99 "
              f"{rows[name]['per_piece']['p99_ms']:.3f} ms per piece", file=sys.stderr, flush=True)
    used = list(argv) if argv is not None else sys.argv[1:]
    report = {"command": " ".join(["python bench/chunk_latency.py", shlex.join(used)]).strip(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "git": git_revision(), "cpu": cpu_description(),
              "versions": package_versions(("edgeasr", "numpy", "sherpa-onnx", "onnxruntime")),
              "clips": len(audio), "audio_s": seconds, "piece_ms": a.piece_ms, "load_average_start": load,
              "load_average_end": os.getloadavg()[0], "systems": rows, "texts": texts,
              "uids": [c["uid"] for c in clips]}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / a.name
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    lines = [f"# Latency per {a.piece_ms:g} ms piece of audio: {len(audio)} held-out clips ({seconds:.0f} s)", "",
             f"`{report['command']}` ({report['date']}); {report['cpu']['model']}, one thread per system, git "
             f"{report['git']}; 1-minute load average {load:.2f} at the start, {report['load_average_end']:.2f} at "
             "the end. Per piece: the wall time from handing it over to having the partial text; final: from "
             "input finished to the final text. Share: all those times over the audio's duration.", "",
             "| system | median ms | p90 ms | p99 ms | max ms | final: median ms | final: p99 ms | share |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        pp, f = r["per_piece"], r["final"]
        lines.append(f"| {name} | {pp['median_ms']:.3f} | {pp['p90_ms']:.3f} | {pp['p99_ms']:.3f} | "
                     f"{pp['max_ms']:.2f} | {f['median_ms']:.3f} | {f['p99_ms']:.3f} | {100 * r['cpu_share']:.2f} % |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(raw, a.piece_ms, stem.with_suffix(".png"))
    print("\n".join(lines))
    return 0


def plot(raw: dict, piece_ms: float, path: Path) -> None:
    """The share of pieces handled within each time, per system (log time axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, ms in raw.items():
        ms = np.sort(ms)
        ax.plot(ms, np.arange(1, ms.size + 1) / ms.size, label=name)
    ax.set_xscale("log")
    ax.set_xlabel(f"wall time per {piece_ms:g} ms piece, until the partial text (ms)")
    ax.set_ylabel("share of pieces")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
