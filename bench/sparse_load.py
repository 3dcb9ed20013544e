"""A sparse model file decoded on load into dense matrices, or kept sparse: speed, memory and transcripts, per kernel
set (RecognizerConfig.sparse_weights "dense" against "sparse").

    python bench/sparse_load.py --model FILE [--model FILE ...] [--limit 100]

Each kernel set this CPU supports runs in its own process (EDGEASR_ISA is read once, at start-up), one thread. In it,
per model file and setting: the Recognizer's construction time (the decoding included), the bytes of its weight
matrices in memory, and the process CPU time of decoding held-out clips (corpus v1/test, evenly over the voices,
0.5 s of silence appended, modified beam search 4, the default config otherwise), the two settings taking turns
clip by clip so that other load on the machine falls on both alike. Transcripts and scores must be identical (the
products are exact either way); the report says whether they were.

Writes bench/results/sparse_load.{json,md} (--out/--name to change).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from machine import cpu_description, git_revision, package_versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = ("dense", "sparse")


def child(models: list[str], limit: int) -> dict:
    """Runs in the process of one kernel set: every model file, both settings."""
    import soundfile as sf

    from e2e import even_over_voices, load_clips
    from edgeasr.kernels import QuantizedMatrix, isa
    from edgeasr.model_file import load_model
    from edgeasr.recognizer import Recognizer, RecognizerConfig

    clips = even_over_voices(load_clips("v1", "test"), limit)
    audio = []
    for c in clips:
        x, rate = sf.read(c["path"], dtype="float32")
        audio.append((np.concatenate([x, np.zeros(rate // 2, np.float32)]), rate, x.size / rate))
    out = {"isa": isa(), "clips": len(clips), "audio_s": sum(a[2] for a in audio), "models": []}
    for path in models:
        model = load_model(path)
        mats = [t for t in model.tensors.values() if isinstance(t, QuantizedMatrix)]
        if not any(m.sparse for m in mats):
            raise SystemExit(f"{path}: no sparse matrix in this model file")
        recs, rows = {}, {}
        for setting in SETTINGS:
            t = time.perf_counter()
            recs[setting] = Recognizer(model, RecognizerConfig(sparse_weights=setting))
            rows[setting] = {"setting": setting, "construct_ms": 1000 * (time.perf_counter() - t),
                             "matrix_bytes": recs[setting].matrix_bytes, "cpu_s": 0.0, "results": []}
        for setting in SETTINGS:                 # warm-up, untimed
            recs[setting].transcribe(*audio[0][:2])
        for x, rate, _ in audio:
            for setting in SETTINGS:
                t = time.process_time()
                r = recs[setting].transcribe(x, rate).result()
                rows[setting]["cpu_s"] += time.process_time() - t
                rows[setting]["results"].append([r.text, r.score])
        same = rows["dense"]["results"] == rows["sparse"]["results"]
        for row in rows.values():
            row["rtf_cpu"] = row["cpu_s"] / out["audio_s"]
            row.pop("results")
        out["models"].append({"model": str(path), "source": model.source, "file_bytes": Path(path).stat().st_size,
                              "formats": sorted({m.format for m in mats}), "identical": same,
                              "rows": [rows[s] for s in SETTINGS]})
    return out


def markdown(report: dict) -> str:
    lines = ["# Sparse model files: decoded to dense on load, or kept sparse", "",
             f"- Command: `{report['command']}`",
             f"- Date: {report['date']}; machine: {report['machine']['model']}, "
             f"{report['machine']['logical_cpus']} logical CPUs; git {report['git']}; one thread per process.",
             f"- Clips: {report['clips']} of corpus v1/test (held-out voices), {report['audio_s']:.1f} s of audio, "
             "0.5 s of silence appended, modified beam search 4; the two settings take turns clip by clip.",
             f"- 1-minute load average {report['load_average'][0]:.2f} at the start, {report['load_average'][1]:.2f} "
             "at the end (2 logical CPUs): with other work running, compare the settings within a row pair, not "
             "across runs.", "",
             "| model file | kernel set | in memory | matrix bytes | construct ms | RTF (CPU) | dense / sparse time "
             "| identical |", "|---|---|---|---:|---:|---:|---:|---|"]
    for run in report["runs"]:
        for m in run["models"]:
            d, s = m["rows"]
            ratio = d["cpu_s"] / s["cpu_s"] if s["cpu_s"] else float("nan")
            name = f"{Path(m['model']).name} ({', '.join(m['formats'])}, {m['file_bytes']:,} B)"
            for row in m["rows"]:
                lines.append(f"| {name} | {run['isa']} | {row['setting']} | {row['matrix_bytes']:,} | "
                             f"{row['construct_ms']:.1f} | {row['rtf_cpu']:.4f} | "
                             f"{f'{ratio:.2f}' if row['setting'] == 'dense' else ''} | "
                             f"{('yes' if m['identical'] else '**no**') if row['setting'] == 'dense' else ''} |")
    lines += ["", "Matrix bytes: the weight matrices as the runtime holds them (values, bitmaps, row offsets, scales); "
              "the float tensors (biases, norms, embeddings) are the same either way. Identical: every clip's "
              "transcript and score equal under both settings."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True, help="a model file with sparse matrices (repeatable)")
    p.add_argument("--limit", type=int, default=100, help="held-out clips, evenly over the voices (0: all)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", default="sparse_load")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.limit < 0:
        p.error(f"--limit: must be >= 0, got {a.limit}")
    for m in a.model:
        if not Path(m).is_file():
            p.error(f"--model {m}: no such file")
    if a.child:
        Path(a.child).write_text(json.dumps(child(a.model, a.limit)))
        return 0
    from edgeasr.kernels import supported_isas

    load_start = os.getloadavg()[0]
    runs = []
    for isa in supported_isas():
        result = a.out / f".{a.name}-{isa}.json"
        a.out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, __file__, "--limit", str(a.limit), "--child", str(result)]
        for m in a.model:
            cmd += ["--model", m]
        if subprocess.run(cmd, env={**os.environ, "EDGEASR_ISA": isa}).returncode != 0:
            print(f"error: the {isa} run failed (its message above)", file=sys.stderr)
            return 1
        runs.append(json.loads(result.read_text()))
        result.unlink()
        print(f"{isa}: done", file=sys.stderr)
    report = {"command": "python bench/sparse_load.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": cpu_description(), "git": git_revision(), "packages": package_versions(["numpy"]),
              "clips": runs[0]["clips"], "audio_s": runs[0]["audio_s"],
              "load_average": [load_start, os.getloadavg()[0]], "runs": runs}
    (a.out / f"{a.name}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = markdown(report)
    (a.out / f"{a.name}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
