"""The front end's cost: kaldi-native-fbank's releases through their Python binding, against edgeasr's native front
end (the same library's C++ sources, release 1.20.3, inside edgeasr._core), per audio second, and how far the
features differ.

From 1.21 on, kaldi-native-fbank's FFT is kissfft set up again for every frame (sines and cosines included), which is
why edgeasr builds 1.20.3. Each release is installed into its own folder under ~/.cache/edgeasr/bench/
kaldi-native-fbank (a package from the registry, `pip install --no-deps --target`) and timed in a fresh process on
the same clip, 1 thread, median of runs: on a list of floats made beforehand (the library and its binding's
conversion), and fed as edgeasr fed it before the native front end (a memoryview, converted item by item, then one
get_frame call per frame). It also reports whether sherpa-onnx's own native library carries kissfft (that is, a
kaldi-native-fbank of 1.21 or later built in).

Usage: python bench/fbank_versions.py [--versions 1.20.3 1.21.3 1.22.3 1.23.0] [--audio FILE] [--runs 30]
Writes bench/results/fbank_versions.{json,md}.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path.home() / ".cache" / "edgeasr" / "bench" / "kaldi-native-fbank"


def worker(knf_dir: str, audio: str, runs: int, features_out: str) -> dict:
    """Runs in its own process with one kaldi-native-fbank release first on sys.path ("" = edgeasr's native)."""
    if knf_dir:
        sys.path.insert(0, knf_dir)
    import numpy as np

    from edgeasr.audio import load_audio
    from edgeasr.features import FbankConfig, compute_fbank

    samples, rate = load_audio(Path(audio), sample_rate=16000)
    seconds = samples.size / rate

    from recognizer_profile import cpu_ms

    if not knf_dir:
        feats = compute_fbank(samples, rate)
        np.save(features_out, feats)
        return {"module": "edgeasr._core", "seconds": seconds, "frames": int(feats.shape[0]),
                "whole_ms_per_audio_s": cpu_ms(lambda: compute_fbank(samples, rate), runs) / seconds}

    import kaldi_native_fbank as knf

    config = FbankConfig()
    opts = config.to_knf()
    listed = samples.tolist()

    def on_list():
        fb = knf.OnlineFbank(opts)
        fb.accept_waveform(float(rate), listed)
        fb.input_finished()

    def whole():  # checks, conversion and frames out, as edgeasr.features did through the binding
        if not np.isfinite(samples).all() or float(np.max(np.abs(samples))) > 2.0:
            raise ValueError("bad samples")
        fb = knf.OnlineFbank(opts)
        fb.accept_waveform(float(rate), memoryview(samples))
        fb.input_finished()
        out = np.empty((fb.num_frames_ready, config.num_bins), np.float32)
        for i in range(out.shape[0]):
            out[i] = fb.get_frame(i)
        return out

    feats = whole()
    np.save(features_out, feats)
    return {"module": knf.__file__, "seconds": seconds, "frames": int(feats.shape[0]),
            "list_ms_per_audio_s": cpu_ms(on_list, runs) / seconds,
            "whole_ms_per_audio_s": cpu_ms(whole, runs) / seconds}


def install(version: str) -> Path:
    target = CACHE / version
    if not (target / "kaldi_native_fbank").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                        f"kaldi-native-fbank=={version}"], check=True)
    return target


def sherpa_onnx_has_kissfft() -> dict:
    """Whether sherpa-onnx's native libraries carry kissfft's symbols (kaldi-native-fbank >= 1.21 inside)."""
    try:
        import sherpa_onnx
    except ImportError:
        return {"installed": False}
    from importlib.metadata import version
    root = Path(sherpa_onnx.__file__).parent
    libs = sorted(str(p.relative_to(root)) for p in root.rglob("*.so*")
                  if b"kiss_fftr" in p.read_bytes())
    return {"installed": True, "version": version("sherpa-onnx"), "libraries_with_kissfft": libs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--versions", nargs="+", default=["1.20.3", "1.21.3", "1.22.3", "1.23.0"])
    p.add_argument("--audio", type=Path)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--worker", nargs=4, metavar=("KNF_DIR", "AUDIO", "RUNS", "FEATURES_OUT"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        knf_dir, audio, runs, out = a.worker
        print(json.dumps(worker(knf_dir, audio, int(runs), out)))
        return

    import numpy as np

    from machine import cpu_description, git_revision, package_versions

    from edgeasr.recognizer import default_model_path

    audio = a.audio or default_model_path().parent / "example.wav"
    rows, feats = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for v in ["edgeasr native"] + a.versions:
            knf_dir = "" if v == "edgeasr native" else str(install(v))
            out = str(Path(tmp) / f"{v}.npy")
            done = subprocess.run([sys.executable, __file__, "--worker", knf_dir, str(audio), str(a.runs), out],
                                  check=True, capture_output=True, text=True)
            rows[v] = json.loads(done.stdout.strip().splitlines()[-1])
            feats[v] = np.load(out)
    base = feats["edgeasr native"]
    for v, r in rows.items():
        r["max_abs_feature_difference_from_native"] = float(np.abs(feats[v] - base).max())
    report = {"audio": str(audio), "runs": a.runs, "rows": rows, "sherpa_onnx": sherpa_onnx_has_kissfft(),
              "cpu": cpu_description(), "versions": package_versions(("edgeasr", "numpy")),
              "git": git_revision(), "command": "python " + " ".join(shlex.quote(x) for x in sys.argv)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fbank_versions.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Front end: edgeasr's native kaldi-native-fbank against the Python binding's releases, on "
             f"{audio.name} ({rows['edgeasr native']['seconds']:.2f} s)",
             "",
             f"CPU time per audio second, median of {a.runs} runs, 1 thread, each in a fresh process; "
             f"{report['cpu']['model']}; git {report['git']}. Command: `{report['command']}`. On a ready list: the "
             "binding's OnlineFbank fed a list of floats made beforehand (the library and its conversion). All of "
             "it: checks, conversion and frames out, as edgeasr.features used the binding before its native front "
             "end (a memoryview, then one get_frame call per frame), or edgeasr.features.compute_fbank now.",
             "",
             "| front end | on a ready list (ms / audio s) | all of it (ms / audio s) "
             "| max abs feature difference from edgeasr native |",
             "|---|---:|---:|---:|"]
    for v, r in rows.items():
        name = v if v == "edgeasr native" else f"kaldi-native-fbank {v} (Python binding)"
        on_list = f"{r['list_ms_per_audio_s']:.3f}" if "list_ms_per_audio_s" in r else ""
        lines.append(f"| {name} | {on_list} | {r['whole_ms_per_audio_s']:.3f} "
                     f"| {r['max_abs_feature_difference_from_native']:.2g} |")
    s = report["sherpa_onnx"]
    if s.get("installed"):
        lines += ["", f"sherpa-onnx {s['version']}: native libraries carrying kissfft (kaldi-native-fbank >= 1.21 "
                      f"built in): {', '.join(s['libraries_with_kissfft']) or 'none'}."]
    (RESULTS / "fbank_versions.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
