"""Parallel streams: how decoding throughput grows with threads, edgeasr and sherpa-onnx side by side.

Each system decodes the same held-out clips (read into memory first, 0.5 s of silence appended as bench/e2e.py
does) with 1, 2, ... threads that share one recognizer, one stream per clip, each recognizer's own compute on one
thread (sherpa-onnx num_threads=1); edgeasr at its default beam (16; --beam) with its settings for that width,
sherpa-onnx at beam 4 (--peer-beam). Reported: wall time (the best of --repeat runs), throughput in audio seconds
per wall second, the speedup over one thread, and whether every transcript equals the one-thread transcript. The
models are bench/e2e.py's: the checkpoint recovered from the bundled file, edgeasr int4 and sherpa-onnx int8.

Usage: python bench/threads.py [--limit 200] [--threads 1,2] [--repeat 3] [--beam 16] [--peer-beam 4]
Writes bench/results/threads.{json,md}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

from e2e import BY_KEY, DEFAULT_CACHE, DEFAULT_TAIL_S, PEER_BLANK_PENALTY, SAMPLE_RATE, _edgeasr_decoder  # noqa: E402
from e2e import _read_clip, _sherpa_decoder, even_over_voices, load_clips, prepare_models  # noqa: E402
from e2e import resolve_checkpoint  # noqa: E402
from machine import cpu_description, git_revision, package_versions  # noqa: E402

from edgeasr.recognizer import DEFAULT_BEAM  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def decoders(models: dict, beam: int, peer_beam: int) -> dict:
    """bench/e2e.py's decoders of edgeasr int4 at ``beam`` (with the bundled n-gram LM, the bundled model's default,
    and without) and sherpa-onnx int8 at ``peer_beam``, at e2e's default settings."""
    from edgeasr.recognizer import RecognizerConfig, context_score_default, default_lm_path

    job = {"beam": beam, "peer_beam": peer_beam, "context_score": context_score_default(beam), "blank_penalty": None,
           "token_reward": None,
           "lm_scale": None, "lm_end_of_sentence": RecognizerConfig().lm_end_of_sentence, "ilm_scale": None,
           "peer_blank_penalty": PEER_BLANK_PENALTY, "chunk_frames": models["chunk_frames"],
           "sample_rate": SAMPLE_RATE, "models": {**models, "lm": str(default_lm_path())}}
    out = {}
    for name, key, make in ((f"edgeasr int4 beam {beam} + n-gram LM", "edgeasr-int4-beam-lm", _edgeasr_decoder),
                            (f"edgeasr int4 beam {beam}", "edgeasr-int4-beam", _edgeasr_decoder),
                            (f"sherpa-onnx int8 beam {peer_beam}", "sherpa-int8-beam", _sherpa_decoder)):
        decode = make(BY_KEY[key], job)
        out[name] = lambda samples, decode=decode: decode(samples, [])
    return out


def run(decode, clips: list, threads: int) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    if threads == 1:
        texts = [decode(c) for c in clips]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            texts = list(pool.map(decode, clips))
    return time.perf_counter() - t0, texts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=200, help="held-out clips, evenly over the voices")
    p.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    p.add_argument("--repeat", type=int, default=3, help="runs per setting; the fastest counts")
    p.add_argument("--beam", type=int, default=DEFAULT_BEAM, help="edgeasr's beam (default: the recognizer's, 16)")
    p.add_argument("--peer-beam", type=int, default=4, help="sherpa-onnx's beam (default 4)")
    a = p.parse_args(argv)
    if min(a.beam, a.peer_beam) < 1:
        p.error("--beam and --peer-beam: expected >= 1")
    counts = [int(x) for x in a.threads.split(",") if x.strip()]
    if not counts or min(counts) < 1 or counts[0] != 1:
        p.error("--threads: positive counts, starting with 1")

    models = prepare_models(resolve_checkpoint(None), DEFAULT_CACHE)
    chosen = even_over_voices(load_clips("v1", "test"), a.limit)
    audio = [_read_clip(c, DEFAULT_TAIL_S) for c in chosen]
    seconds = sum(x.size for x in audio) / SAMPLE_RATE
    systems = decoders(models, a.beam, a.peer_beam)
    rows = []
    for name, decode in systems.items():
        reference = one_thread_s = None
        for n in counts:  # 1 first
            best, texts = min((run(decode, audio, n) for _ in range(a.repeat)), key=lambda r: r[0])
            if reference is None:
                reference, one_thread_s = texts, best
            rows.append({"system": name, "threads": n, "wall_s": best, "audio_per_wall": seconds / best,
                         "speedup": one_thread_s / best, "same_as_one_thread": texts == reference})
            print(f"{name}, {n} thread(s): {best:.2f} s wall, {seconds / best:.0f} audio s per s", flush=True)
    cpu = cpu_description()
    report = {"clips": len(audio), "audio_s": seconds, "repeat": a.repeat, "beam": a.beam, "peer_beam": a.peer_beam,
              "rows": rows, "cpu": cpu,
              "versions": package_versions(("edgeasr", "numpy", "sherpa-onnx", "onnxruntime")),
              "git": git_revision(), "command": "python " + " ".join(shlex.quote(x) for x in sys.argv)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "threads.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Parallel streams: {len(audio)} held-out clips ({seconds:.0f} s of audio), one recognizer shared by "
             "the threads", "",
             f"{cpu['model']}, {cpu['cpus_available']} CPUs available; git {report['git']}. Command: "
             f"`{report['command']}`. Wall time: the fastest of {a.repeat} runs. Each system's own compute on one "
             f"thread per stream; edgeasr beam {a.beam}, sherpa-onnx beam {a.peer_beam}.", "",
             "| system | threads | wall s | audio s per wall s | speedup over 1 thread | transcripts as with 1 thread |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['system']} | {r['threads']} | {r['wall_s']:.2f} | {r['audio_per_wall']:.0f} | "
                     f"{r['speedup']:.2f}× | {'yes' if r['same_as_one_thread'] else '**no**'} |")
    (RESULTS / "threads.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
