"""End to end, side by side: sherpa-onnx, PyTorch eager and edgeasr decoding the same trained model on held-out clips.

    python bench/e2e.py                 # 200 clips of v1/test, evenly over its voices: bench/results/e2e.{json,md,png}
    python bench/e2e.py --limit 0       # every clip of the split
    python bench/e2e.py --quick         # 20 clips, to check the script: bench/results/e2e-quick.*

One command runs everything. The checkpoint (default: one recovered from the bundled model file, its dequantized int4
weights: what the shipped model multiplies by, so every system runs the same function; the bundled model is trained
with int4 fake quantization, and its training checkpoint's float weights, which --checkpoint can name, are a different
and worse model) is copied and exported once into ~/.cache/edgeasr/bench/e2e/<run>-<sha256>/ (never the repo):
a float32 snapshot (edgeasr.train.export.export_checkpoint, what PyTorch loads), sherpa-onnx's files fp32 and int8
(export_sherpa_onnx), and edgeasr model files int8 and float32 (export_model). Every system then decodes the clips in
its own fresh process (this script with --child), one after the other, so that each peak RSS is that system's alone
(ru_maxrss of the child from os.wait4, in a small launcher: see run_child), and one thread each (OMP/MKL/OpenBLAS
set to 1 before any import, torch.set_num_threads(1), sherpa-onnx num_threads=1).

Every system gets the same input: the clip's 16 kHz samples with 0.5 s of silence appended (sherpa-onnx's
input_finished() does not pad, so without it sherpa-onnx drops the last partial chunk; the others get the same audio
so the comparison is fair), fed whole, then input finished; the encoder runs in chunks of 16 feature frames in all
three. Timed per clip: stream creation (with its biasing phrases), features, encoder, search and result, not file
reading; the first clip is decoded once untimed to warm up. Real-time factor = summed wall (and process CPU) time
over summed clip duration without the padding.

Biasing: each clip gets 100 phrases, its true contact and device names (supervision custom "names", from the text
generator's Request.names) plus distractors drawn from every name in the split, the same list for sherpa-onnx
(hotwords, modified_beam_search, modeling_unit bpe with a bpe_vocab written from the model's piece scores) and for
edgeasr (Recognizer.context_graph once per list), at the same bonus per token. B-WER counts errors on the words of the
clip's true names (plus inserted words of its phrase list), U-WER on the other words. ``--phrases 1000
--contacts-pool`` gives each clip a contact list of 1,000 (the split's own names are too few): distractors come also
from the text generator's contact names of the split, which for the test split never occur in training text.
"""

from __future__ import annotations

import os

# One thread everywhere: set before numpy, torch or onnxruntime start their pools (children inherit it).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from edgeasr.recognizer import RecognizerConfig, context_score_default, default_lm_path  # noqa: E402

from machine import cpu_description, git_revision, package_versions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUNDLED = Path.home() / ".cache" / "edgeasr" / "bundled"
DEFAULT_CACHE = Path.home() / ".cache" / "edgeasr" / "bench" / "e2e"
# sherpa-onnx's and PyTorch's blank penalty unless --blank-penalty says otherwise: the value edgeasr's searches were
# tuned with before the token reward (dev: 1/1.5/2; v1hard dev without the reward: 1.5 is best, search_tune.md).
PEER_BLANK_PENALTY = 1.5
SAMPLE_RATE = 16000
DEFAULT_TAIL_S = 0.5  # seconds of silence appended to every clip, for every system
DEFAULT_LIMIT, QUICK_LIMIT = 200, 20


class BenchError(RuntimeError):
    """A precondition the user can fix (missing checkpoint or corpus); main() prints it without a traceback."""


# ---------------------------------------------------------------------------------------------------------------
# The systems
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class System:
    key: str
    runtime: str      # "sherpa-onnx", "pytorch", "edgeasr", or "floor" (reads the clips, decodes nothing)
    weights: str      # "fp32", "int8", "int4" (edgeasr only; "float32" is edgeasr's name for fp32)
    search: str       # "greedy_search" or "modified_beam_search"
    biasing: bool = False
    reference: bool = False  # shown for reference, not part of the targets
    lm: bool = False         # edgeasr with the n-gram LM (--lm) fused in its beam search

    def label(self, beam: int) -> str:
        if self.runtime == "floor":
            return "floor (Python + audio reading, no decoding)"
        search = "greedy" if self.search == "greedy_search" else f"beam {beam}"
        bias = {"sherpa-onnx": " + hotwords", "edgeasr": " + context"}.get(self.runtime, "") if self.biasing else ""
        return f"{self.runtime} {self.weights} {search}{' + n-gram LM' if self.lm else ''}{bias}"


SYSTEMS = [
    System("floor", "floor", "-", "-"),
    System("sherpa-fp32-greedy", "sherpa-onnx", "fp32", "greedy_search"),
    System("sherpa-fp32-beam", "sherpa-onnx", "fp32", "modified_beam_search"),
    System("sherpa-int8-greedy", "sherpa-onnx", "int8", "greedy_search"),
    System("sherpa-int8-beam", "sherpa-onnx", "int8", "modified_beam_search"),
    System("sherpa-int8-beam-hotwords", "sherpa-onnx", "int8", "modified_beam_search", biasing=True),
    System("torch-fp32-greedy", "pytorch", "fp32", "greedy_search"),
    System("torch-fp32-beam", "pytorch", "fp32", "modified_beam_search"),
    System("edgeasr-int8-greedy", "edgeasr", "int8", "greedy_search"),
    System("edgeasr-int8-beam", "edgeasr", "int8", "modified_beam_search"),
    System("edgeasr-int8-beam-context", "edgeasr", "int8", "modified_beam_search", biasing=True),
    System("edgeasr-int4-greedy", "edgeasr", "int4", "greedy_search"),
    System("edgeasr-int4-beam", "edgeasr", "int4", "modified_beam_search"),
    System("edgeasr-int4-beam-context", "edgeasr", "int4", "modified_beam_search", biasing=True),
    System("edgeasr-int4-beam-lm", "edgeasr", "int4", "modified_beam_search", lm=True),
    System("edgeasr-int4-beam-lm-context", "edgeasr", "int4", "modified_beam_search", biasing=True, lm=True),
    System("edgeasr-fp32-greedy", "edgeasr", "fp32", "greedy_search", reference=True),
    System("edgeasr-fp32-beam", "edgeasr", "fp32", "modified_beam_search", reference=True),
]
BY_KEY = {s.key: s for s in SYSTEMS}
# The PyTorch system each one should agree with when its search is the same and nothing biases it.
TORCH_REFERENCE = {"greedy_search": "torch-fp32-greedy", "modified_beam_search": "torch-fp32-beam"}


# ---------------------------------------------------------------------------------------------------------------
# Child side: one system decodes every clip in this process
# ---------------------------------------------------------------------------------------------------------------

def sherpa_recognizer(system: System, job: dict):
    """sherpa-onnx's OnlineRecognizer for ``system`` at the job's peer settings (beam, blank penalty, hotword bonus),
    one thread."""
    import sherpa_onnx

    kwargs = dict(job["models"]["sherpa"][system.weights])
    kwargs.update(num_threads=1, provider="cpu", decoding_method=system.search, max_active_paths=job["peer_beam"],
                  blank_penalty=job["peer_blank_penalty"])
    if system.search == "modified_beam_search":
        # A BPE model's hotwords are split into pieces by sherpa-onnx's own sentencepiece reader of bpe_vocab.
        kwargs.update(modeling_unit="bpe", bpe_vocab=job["models"]["bpe_vocab"], hotwords_score=job["context_score"])
    return sherpa_onnx.OnlineRecognizer.from_transducer(**kwargs)


def _sherpa_decoder(system: System, job: dict) -> Callable[[np.ndarray, list], str]:
    rec = sherpa_recognizer(system, job)
    rate = job["sample_rate"]

    def decode(samples: np.ndarray, phrases: list) -> str:
        stream = rec.create_stream("/".join(phrases)) if system.biasing else rec.create_stream()
        stream.accept_waveform(rate, samples)
        stream.input_finished()
        while rec.is_ready(stream):
            rec.decode_stream(stream)
        result = rec.get_result(stream)
        return result if isinstance(result, str) else result.text

    return decode


def _torch_decoder(system: System, job: dict) -> Callable[[np.ndarray, list], str]:
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before torch's first parallel work
        torch.set_num_interop_threads(1)
    from edgeasr.features import compute_fbank
    from edgeasr.train.export import load_trained
    from torch_beam_search import TorchStreamingDecoder

    model, table = load_trained(job["models"]["snapshot"])
    decoder = TorchStreamingDecoder(model, system.search, job["peer_beam"], job["chunk_frames"],
                                    job["peer_blank_penalty"])
    rate = job["sample_rate"]

    def decode(samples: np.ndarray, phrases: list) -> str:
        return table.decode(decoder.decode(compute_fbank(samples, rate)))

    return decode


def _edgeasr_decoder(system: System, job: dict) -> Callable[[np.ndarray, list], str]:
    from edgeasr.recognizer import Recognizer, RecognizerConfig

    config = RecognizerConfig(decoding=system.search, beam=job["beam"], chunk_frames=job["chunk_frames"],
                              context_score=job["context_score"], blank_penalty=job["blank_penalty"],
                              token_reward=job["token_reward"] if system.search == "modified_beam_search" else None,
                              lm_scale=job["lm_scale"], lm_end_of_sentence=job["lm_end_of_sentence"],
                              ilm_scale=job["ilm_scale"],
                              tail_padding_s=0.0)  # every system gets the same job["tail_s"] of silence appended
    rec = Recognizer(job["models"]["edgeasr"][system.weights], config, lm=job["models"]["lm"] if system.lm else None)
    rate = job["sample_rate"]

    def decode(samples: np.ndarray, phrases: list) -> str:
        graph = None
        if system.biasing:
            t0 = time.perf_counter()
            graph = rec.context_graph(phrases)
            decode.context_graph_s += time.perf_counter() - t0
        return rec.transcribe(samples, rate, context=graph).result().text

    if system.biasing:
        decode.context_graph_s = 0.0  # wall time in context_graph, part of the timed decoding
    return decode


def _floor_decoder(system: System, job: dict) -> Callable[[np.ndarray, list], str]:
    return lambda samples, phrases: ""


DECODERS = {"sherpa-onnx": _sherpa_decoder, "pytorch": _torch_decoder, "edgeasr": _edgeasr_decoder,
            "floor": _floor_decoder}


def _read_clip(clip: dict, tail_s: float) -> np.ndarray:
    import soundfile as sf

    samples, rate = sf.read(clip["path"], dtype="float32", always_2d=False)
    if rate != SAMPLE_RATE or samples.ndim != 1:
        raise BenchError(f"{clip['path']}: {rate} Hz, shape {samples.shape}; expected {SAMPLE_RATE} Hz mono")
    return np.concatenate([samples, np.zeros(int(round(tail_s * rate)), np.float32)])


def _proc_status_kib(field: str) -> Optional[int]:
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def child_main(key: str, job_path: Path, result_path: Path) -> int:
    job = json.loads(job_path.read_text(encoding="utf-8"))
    system = BY_KEY[key]
    t0 = time.perf_counter()
    decode = DECODERS[system.runtime](system, job)
    setup_s = time.perf_counter() - t0
    rss_after_setup = _proc_status_kib("VmRSS")
    clips = job["clips"]
    decode(_read_clip(clips[0], job["tail_s"]), clips[0]["phrases"])  # warm-up, untimed
    if hasattr(decode, "context_graph_s"):
        decode.context_graph_s = 0.0
    rows = []
    for i, clip in enumerate(clips):
        samples = _read_clip(clip, job["tail_s"])
        w0, c0 = time.perf_counter(), time.process_time()
        text = decode(samples, clip["phrases"])
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rows.append({"uid": clip["uid"], "raw": text, "wall_s": wall, "cpu_s": cpu})
        if (i + 1) % 50 == 0:
            print(f"  {key}: {i + 1}/{len(clips)} clips", file=sys.stderr, flush=True)
    result = {"system": key, "setup_s": setup_s, "rss_after_setup_kib": rss_after_setup,
              "hwm_kib": _proc_status_kib("VmHWM"), "load_average_end": os.getloadavg(), "clips": rows}
    if hasattr(decode, "context_graph_s"):
        result["context_graph_s"] = decode.context_graph_s
    if system.runtime == "pytorch":
        import torch

        result["torch_threads"] = torch.get_num_threads()
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Driver: models, clips, phrases
# ---------------------------------------------------------------------------------------------------------------

def search_scores(search: str, blank_penalty: Optional[float] = None, token_reward: Optional[float] = None) -> dict:
    """What edgeasr's ``search`` runs with: the given blank penalty and (beam search only) token reward, or else the
    search's own defaults (``RecognizerConfig.resolved``)."""
    c = RecognizerConfig(decoding=search, blank_penalty=blank_penalty,
                         token_reward=token_reward if search == "modified_beam_search" else None).resolved()
    return {"blank_penalty": c.blank_penalty, "token_reward": c.token_reward}


def lm_scores(lm_scale: Optional[float], token_reward: Optional[float], ilm_scale: Optional[float] = None,
              beam: int = RecognizerConfig.beam) -> dict:
    """The LM weight and token reward the systems with an LM use: the given ones, or those tuned for the beam
    (edgeasr.recognizer.lm_search_defaults)."""
    c = RecognizerConfig(beam=beam, lm_scale=lm_scale, token_reward=token_reward,
                         ilm_scale=ilm_scale).resolved(with_lm=True)
    return {"lm_scale": c.lm_scale, "token_reward": c.token_reward, "ilm_scale": c.ilm_scale}


def _repo_path(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def resolve_checkpoint(path: Optional[Path]) -> Path:
    if path is not None:
        if not path.is_file():
            raise BenchError(f"--checkpoint {path}: no such file")
        return path
    return recovered_bundled_checkpoint()


def recovered_bundled_checkpoint() -> Path:
    """A checkpoint recovered from the bundled model file itself (edgeasr.train.export.checkpoint_from_model: the int4
    weights dequantized, what the shipped model multiplies by), kept in ~/.cache/edgeasr/bundled/from-model-file/
    under the file's digest."""
    from edgeasr.recognizer import default_model_path
    from edgeasr.train.export import checkpoint_from_model

    model_path = default_model_path()
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()[:16]
    out = BUNDLED / "from-model-file" / f"default_model-{digest}.pt"
    if not out.is_file():
        checkpoint_from_model(model_path, out)
    print(f"using {out}, recovered from the bundled model file", file=sys.stderr)
    return out


def prepare_models(checkpoint: Path, cache_root: Path) -> dict:
    """Export the checkpoint once per content into ``cache_root``; returns the paths and facts about it.

    The checkpoint is copied first: training may overwrite it while this runs, and every system must decode the
    same weights."""
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = cache_root / f".staging-{os.getpid()}"
    staging.mkdir()
    try:
        copy = staging / "checkpoint.pt"
        shutil.copyfile(checkpoint, copy)
        if (checkpoint.parent / "bpe.model").is_file():  # where the export finds the BPE piece scores
            shutil.copyfile(checkpoint.parent / "bpe.model", staging / "bpe.model")
        digest = hashlib.sha256(copy.read_bytes()).hexdigest()
        folder = cache_root / f"{checkpoint.parent.name}-{checkpoint.stem}-{digest[:16]}"
        manifest = folder / "exports.json"
        if not manifest.is_file():
            _export_all(copy, folder, checkpoint, digest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    models = json.loads(manifest.read_text(encoding="utf-8"))
    missing = [w for w in EDGEASR_WEIGHTS if w not in models["edgeasr"]]  # exported before those systems existed
    if missing:
        models["edgeasr"].update(_export_edgeasr(Path(models["snapshot"]), folder, missing))
        manifest.write_text(json.dumps(models, indent=1), encoding="utf-8")
    return models


EDGEASR_WEIGHTS = {"int8": "int8", "int4": "int4", "fp32": "float32"}  # system weights -> edgeasr export weights


def _export_edgeasr(snapshot: Path, folder: Path, weights: list[str]) -> dict[str, str]:
    from edgeasr.train.export import export_model

    return {w: str(export_model(snapshot, folder / f"edgeasr-{EDGEASR_WEIGHTS[w]}.safetensors",
                                weights=EDGEASR_WEIGHTS[w])) for w in weights}


def _export_all(copy: Path, folder: Path, checkpoint: Path, digest: str) -> None:
    import torch
    from safetensors import safe_open

    from edgeasr.model_file import load_model
    from edgeasr.train.export import export_checkpoint
    from edgeasr.train.onnx_export import DEFAULT_CHUNK_FRAMES, export_sherpa_onnx

    print(f"exporting {checkpoint} into {folder} ...", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    if (copy.parent / "bpe.model").is_file():
        shutil.copyfile(copy.parent / "bpe.model", folder / "bpe.model")
    snapshot = export_checkpoint(copy, folder / "model.safetensors", dtype=torch.float32)
    with safe_open(str(snapshot), framework="pt") as f:
        meta = f.metadata() or {}
    edgeasr_files = _export_edgeasr(snapshot, folder, list(EDGEASR_WEIGHTS))
    sherpa = export_sherpa_onnx(snapshot, folder / "sherpa-onnx", int8=True, chunk_frames=DEFAULT_CHUNK_FRAMES)
    table = load_model(edgeasr_files["int8"]).tokens
    bpe_vocab = folder / "sherpa-onnx" / "bpe.vocab"  # sentencepiece's .vocab format: piece TAB score
    bpe_vocab.write_text("".join(f"{p}\t{s:g}\n" for p, s in zip(table.pieces, table.scores)), encoding="utf-8")
    manifest = {
        "checkpoint": str(checkpoint), "sha256": digest, "trained_steps": meta.get("trained_steps"),
        "trained_epochs": meta.get("trained_epochs"), "chunk_frames": DEFAULT_CHUNK_FRAMES,
        "snapshot": str(snapshot), "edgeasr": edgeasr_files,
        "sherpa": {k: f.recognizer_kwargs() for k, f in sherpa.items()}, "bpe_vocab": str(bpe_vocab),
    }
    (folder / "exports.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def model_files(system: System, models: dict) -> list[str]:
    if system.runtime == "sherpa-onnx":
        kw = models["sherpa"][system.weights]
        extra = [models["bpe_vocab"]] if system.biasing else []
        return [kw["encoder"], kw["decoder"], kw["joiner"], kw["tokens"], *extra]
    if system.runtime == "edgeasr":
        return [models["edgeasr"][system.weights], *([models["lm"]] if system.lm else [])]
    if system.runtime == "pytorch":
        return [models["snapshot"]]
    return []


def load_clips(corpus: str, split: str) -> list[dict]:
    from edgeasr.train.corpus import corpus_dir, load_cuts

    try:
        folder = corpus_dir(corpus, split)
    except ValueError as e:
        raise BenchError(f"--corpus/--split: {e}") from e
    if not (folder / "cuts.jsonl.gz").is_file():
        raise BenchError(f"corpus {corpus}/{split} is not built ({folder}); python -m edgeasr.train.corpus "
                         f"--name {corpus} --split {split} --n N")
    clips = []
    for cut in load_cuts(corpus, split):
        sup = cut.supervisions[0]
        custom = sup.custom or {}
        path = folder / "audio" / f"{cut.id}.flac"
        if not path.is_file():
            raise BenchError(f"{path}: missing; rebuild corpus {corpus}/{split}")
        clips.append({"uid": cut.id, "path": str(path), "voice": sup.speaker, "kind": custom.get("kind", "?"),
                      "text": sup.text, "names": list(dict.fromkeys(custom.get("names", []))),
                      "duration_s": cut.duration, "speech_start": custom.get("speech_start"),
                      "speech_end": custom.get("speech_end"),
                      "noisy": bool((custom.get("augment") or {}).get("noise"))})
    return clips


def even_over_voices(clips: list[dict], limit: int) -> list[dict]:
    """``limit`` clips (all when 0): the same number from each voice (within one), evenly spaced in each voice's
    clips, in corpus order."""
    if not limit or limit >= len(clips):
        return list(clips)
    by_voice: dict[str, list[dict]] = defaultdict(list)
    for c in clips:
        by_voice[c["voice"]].append(c)
    voices = sorted(by_voice)
    chosen = []
    for i, v in enumerate(voices):
        items = by_voice[v]
        want = min(len(items), limit // len(voices) + (i < limit % len(voices)))
        chosen += [items[j * len(items) // want] for j in range(want)]
    order = {c["uid"]: i for i, c in enumerate(clips)}
    return sorted(chosen, key=lambda c: order[c["uid"]])


def attach_phrases(clips: list[dict], pool_clips: list[dict], n_phrases: int, can_spell,
                   extra_pool: Sequence[str] = ()) -> dict:
    """Each clip's biasing list: its true names, then distractors from every name of ``pool_clips`` (and
    ``extra_pool``), ``n_phrases`` in all, shuffled (seeded by the clip id). Names the model's tokens cannot spell are
    left out of every list."""
    pool = sorted({n for c in pool_clips for n in c["names"]} | set(extra_pool))
    unspellable = sorted(n for n in pool if not can_spell(n))
    pool = [n for n in pool if n not in set(unspellable)]
    for c in clips:
        own = [n for n in c["names"] if n in pool]
        rng = random.Random(zlib.crc32(c["uid"].encode()))
        others = [n for n in pool if n not in own]
        phrases = own + rng.sample(others, min(len(others), max(0, n_phrases - len(own))))
        rng.shuffle(phrases)
        c["phrases"] = phrases
    return {"pool_names": len(pool), "unspellable_names": unspellable, "phrases_per_clip": n_phrases,
            "clips_with_names": sum(bool(c["names"]) for c in clips)}


# ---------------------------------------------------------------------------------------------------------------
# Driver: running the children
# ---------------------------------------------------------------------------------------------------------------

# Linux keeps a process's ru_maxrss across exec, and a child forked from this driver (torch, lhotse and the exports
# loaded) would start from the driver's peak. So each system is started by this small launcher, whose own peak is a few
# MB: the system's ru_maxrss, read with os.wait4 by the launcher, is then its own.
_LAUNCHER = ("import json, os, subprocess, sys\n"
             "p = subprocess.Popen(sys.argv[1:], stdout=sys.stderr)\n"
             "_, status, usage = os.wait4(p.pid, 0)\n"
             "print(json.dumps({'exit': os.waitstatus_to_exitcode(status), 'maxrss_kib': usage.ru_maxrss, "
             "'user_s': usage.ru_utime, 'sys_s': usage.ru_stime}))\n")


def run_child(key: str, job_path: Path, work: Path) -> dict:
    result_path = work / f"{key}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", key, "--job", str(job_path),
           "--result", str(result_path)]
    print(f"{key} ...", file=sys.stderr, flush=True)
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    launched = subprocess.run([sys.executable, "-I", "-c", _LAUNCHER, *cmd], stdout=subprocess.PIPE, text=True)
    if launched.returncode != 0:
        raise RuntimeError(f"{key}: the launcher failed (exit status {launched.returncode})")
    usage = json.loads(launched.stdout.strip().splitlines()[-1])
    if usage["exit"] != 0:
        raise RuntimeError(f"{key}: the child process failed (exit status {usage['exit']}): {shlex.join(cmd)}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result.update(peak_rss_kib=usage["maxrss_kib"], child_user_s=usage["user_s"], child_sys_s=usage["sys_s"],
                  process_wall_s=time.perf_counter() - t0, load_average_start=load_start)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------------

def normalize(text: str) -> str:
    """Lowercase words; sherpa-onnx's result keeps sentencepiece's word marker where its symbol table has one."""
    return " ".join(text.replace("\u2581", " ").lower().split())


def _name_positions(words: list[str], names: Sequence[str]) -> set[int]:
    """Indices of ``words`` inside an occurrence of one of ``names`` (each a phrase of words)."""
    marked = set()
    for name in names:
        n = name.split()
        for i in range(len(words) - len(n) + 1):
            if words[i:i + len(n)] == n:
                marked.update(range(i, i + len(n)))
    return marked


def _contains(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def score(clips: list[dict], hyps: list[str]) -> dict:
    """WER, its parts, and biased/unbiased word error rates.

    B-WER: substitutions and deletions of words of the clip's true names, plus inserted words that belong to any
    phrase of the clip's biasing list, over the number of name words; U-WER: the other errors over the other words
    (as Le et al. 2021 define them). The same lists define the classes for systems without biasing."""
    import jiwer

    refs = [c["text"] for c in clips]
    out = jiwer.process_words(refs, hyps)
    counts = dict(b_words=0, b_errors=0, u_words=0, u_errors=0)
    for c, ref_words, hyp_words, chunks in zip(clips, out.references, out.hypotheses, out.alignments):
        names = _name_positions(ref_words, c["names"])
        phrase_words = {w for p in c.get("phrases", []) + c["names"] for w in p.split()}
        counts["b_words"] += len(names)
        counts["u_words"] += len(ref_words) - len(names)
        for ch in chunks:
            if ch.type in ("substitute", "delete"):
                for i in range(ch.ref_start_idx, ch.ref_end_idx):
                    counts["b_errors" if i in names else "u_errors"] += 1
            elif ch.type == "insert":
                for j in range(ch.hyp_start_idx, ch.hyp_end_idx):
                    counts["b_errors" if hyp_words[j] in phrase_words else "u_errors"] += 1
    names_total = sum(len(c["names"]) for c in clips)
    names_found = sum(_contains(h, n) for c, h in zip(clips, hyps) for n in c["names"])
    false_names = sum(_contains(h, p) and not _contains(c["text"], p)
                      for c, h in zip(clips, hyps) for p in c.get("phrases", []))
    return {
        "wer": out.wer, "substitutions": out.substitutions, "deletions": out.deletions,
        "insertions": out.insertions, "hits": out.hits, "ref_words": sum(len(r) for r in out.references),
        "b_wer": counts["b_errors"] / counts["b_words"] if counts["b_words"] else None,
        "u_wer": counts["u_errors"] / counts["u_words"] if counts["u_words"] else None,
        **counts, "names": names_total, "names_recognized": names_found,
        "name_recall": names_found / names_total if names_total else None,
        "false_name_phrases": false_names, "empty_hypotheses": sum(not h for h in hyps),
    }


def wer_by_voice(report: dict) -> dict[str, dict[str, float]]:
    """{system key: {voice: WER}} from the report's clips and each system's hypotheses (edgeasr evaluate's
    per-voice WER, edgeasr.train.evaluate.wer_by_voice)."""
    from edgeasr.train.evaluate import wer_by_voice as by_voice

    clips = report["clips"]
    refs, voices = [c["text"] for c in clips], [c["voice"] for c in clips]
    return {key: {v: r["wer"] for v, r in by_voice(refs, e["hypotheses"], voices).items() if v != "all"}
            for key, e in report["systems"].items() if "hypotheses" in e and "accuracy" in e}  # not the floor row


def summarize(system: System, result: dict, clips: list[dict], models: dict, beam: int) -> dict:
    rows = result["clips"]
    durations = np.array([c["duration_s"] for c in clips])
    walls = np.array([r["wall_s"] for r in rows])
    cpus = np.array([r["cpu_s"] for r in rows])
    audio = float(durations.sum())
    per_clip = walls / np.maximum(durations, 1e-9)
    files = model_files(system, models)
    hyps = [normalize(r["raw"]) for r in rows]
    entry = {
        "key": system.key, "label": system.label(beam), **dataclasses.asdict(system),
        "model_files": files, "model_bytes": sum(os.path.getsize(f) for f in files),
        "peak_rss_bytes": result["peak_rss_kib"] * 1024, "vm_hwm_bytes": (result["hwm_kib"] or 0) * 1024,
        "rss_after_setup_bytes": (result["rss_after_setup_kib"] or 0) * 1024, "setup_s": result["setup_s"],
        "process_wall_s": result["process_wall_s"],
        "load_average": {"start": result["load_average_start"], "end": result["load_average_end"]},
        "audio_s": audio, "decode_wall_s": float(walls.sum()), "decode_cpu_s": float(cpus.sum()),
        "rtf_wall": float(walls.sum()) / audio, "rtf_cpu": float(cpus.sum()) / audio,
        "per_clip_rtf_wall_median": float(np.median(per_clip)),
        "per_clip_rtf_wall_p90": float(np.percentile(per_clip, 90)),
    }
    for extra in ("torch_threads", "context_graph_s"):
        if extra in result:
            entry[extra] = result[extra]
    if system.runtime != "floor":
        entry["accuracy"] = score(clips, hyps)
    entry["hypotheses"] = hyps
    entry["clip_wall_s"] = [round(float(w), 6) for w in walls]
    entry["clip_cpu_s"] = [round(float(c), 6) for c in cpus]
    return entry


def agreement(entries: dict[str, dict]) -> None:
    """Share of clips whose transcript equals the PyTorch one with the same search: a check on the exports."""
    for e in entries.values():
        ref = TORCH_REFERENCE.get(e["search"])
        if ref in entries and e["runtime"] not in ("pytorch", "floor") and not e["biasing"]:
            same = [a == b for a, b in zip(e["hypotheses"], entries[ref]["hypotheses"])]
            e["same_as_pytorch"] = {"reference": ref, "fraction": sum(same) / len(same)}


RATIOS = [  # (name, numerator, denominator, target, direction)
    ("edgeasr int8 beam + context / sherpa-onnx int8 beam + hotwords", "edgeasr-int8-beam-context",
     "sherpa-int8-beam-hotwords", 0.5, "<="),
    ("edgeasr int8 beam / sherpa-onnx int8 beam", "edgeasr-int8-beam", "sherpa-int8-beam", 0.5, "<="),
    ("edgeasr int8 greedy / sherpa-onnx int8 greedy", "edgeasr-int8-greedy", "sherpa-int8-greedy", 0.5, "<="),
    ("edgeasr int4 beam + context / sherpa-onnx int8 beam + hotwords", "edgeasr-int4-beam-context",
     "sherpa-int8-beam-hotwords", 0.5, "<="),
    ("edgeasr int4 beam / sherpa-onnx int8 beam", "edgeasr-int4-beam", "sherpa-int8-beam", 0.5, "<="),
    ("edgeasr int4 greedy / sherpa-onnx int8 greedy", "edgeasr-int4-greedy", "sherpa-int8-greedy", 0.5, "<="),
    ("PyTorch eager beam / edgeasr int8 beam", "torch-fp32-beam", "edgeasr-int8-beam", 20, ">="),
    ("PyTorch eager greedy / edgeasr int8 greedy", "torch-fp32-greedy", "edgeasr-int8-greedy", 20, ">="),
    ("PyTorch eager beam / edgeasr fp32 beam", "torch-fp32-beam", "edgeasr-fp32-beam", 20, ">="),
]


def ratios(entries: dict[str, dict]) -> list[dict]:
    """Real-time factor ratios, wall and CPU, with their targets."""
    out = []
    for name, num, den, target, direction in RATIOS:
        if num in entries and den in entries:
            r = {"name": name, "numerator": num, "denominator": den, "target": f"{direction} {target:g}"}
            for kind in ("wall", "cpu"):
                value = entries[num][f"rtf_{kind}"] / entries[den][f"rtf_{kind}"]
                r[kind] = value
                r[f"met_{kind}"] = value <= target if direction == "<=" else value >= target
            out.append(r)
    return out


# ---------------------------------------------------------------------------------------------------------------
# The machine and the report
# ---------------------------------------------------------------------------------------------------------------

def machine_info() -> dict:
    import edgeasr.kernels
    from edgeasr import _core

    cpu = cpu_description()
    model = cpu["model"]
    versions = package_versions(("sherpa-onnx", "onnxruntime", "onnx", "torch", "edgeasr", "numpy", "jiwer",
                                 "kaldi-native-fbank"))
    git = git_revision()
    core = Path(_core.__file__)
    return {"cpu": model, "logical_cpus": os.cpu_count(),
            "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "versions": versions, "git": git, "nice": os.nice(0),
            "edgeasr_isa": edgeasr.kernels.isa(),
            "edgeasr_core": {"path": str(core), "mtime": datetime.datetime.fromtimestamp(
                core.stat().st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")},
            "threads_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                           "OPENBLAS_NUM_THREADS")}}


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f}"


def _score_settings(run: dict) -> str:
    """The blank penalties and token reward of the run, in words."""
    g, b = run["edgeasr_scores"]["greedy_search"], run["edgeasr_scores"]["modified_beam_search"]
    return (f"Blank penalty (the blank's logit lowered before the softmax, sherpa-onnx's meaning): sherpa-onnx and "
            f"PyTorch {run['peer_blank_penalty']:g}; edgeasr greedy {g['blank_penalty']:g}, beam search "
            f"{b['blank_penalty']:g} with a token reward of {b['token_reward']:g} (added to the score of every token "
            "it emits, edgeasr's RecognizerConfig.token_reward; sherpa-onnx and PyTorch instead pick their final "
            "hypothesis by score per token)." + _lm_settings(run))


def _lm_settings(run: dict) -> str:
    lm = run.get("lm_scores")
    if not run.get("lm") or not lm:
        return ""
    return (f" The systems with an n-gram LM fuse `{run['lm']}` into the beam search with lm_scale "
            f"{lm['lm_scale']:g}, internal-LM weight {lm.get('ilm_scale') or 0:g} and a token reward of "
            f"{lm['token_reward']:g} (edgeasr.recognizer.lm_search_defaults(beam) unless --lm-scale / --ilm-scale / "
            "--token-reward say otherwise)"
            + ("; the end of sentence unscored (--lm-no-end)." if run.get("lm_end_of_sentence") is False else
               ", and the end of sentence scored."))


def markdown(report: dict) -> str:
    m, run, models = report["machine"], report["run"], report["models"]
    entries = report["systems"]
    decoded = [e for e in entries.values() if e["runtime"] != "floor"]
    worst = max((e["accuracy"]["wer"] for e in decoded), default=0)
    load = run["load_average"]
    lines = [
        f"# End to end: sherpa-onnx, PyTorch eager and edgeasr on the same model{' (quick)' if run['quick'] else ''}",
        "",
        f"- Clips: {run['clips']} of corpus {run['corpus']}/{run['split']}"
        + (" (held-out voices)" if run["split"] == "test" else "") + ", evenly over "
        f"{run['voices']} voices, {run['audio_s']:.1f} s of audio; each fed whole with {run['tail_s']:g} s of "
        "silence appended, encoder chunks of "
        f"{models['chunk_frames']} frames (10 ms) in every system. " + _score_settings(run),
        f"- Model: `{models['checkpoint']}` (sha256 {models['sha256'][:16]}, step {models['trained_steps']}, "
        f"epoch {models['trained_epochs']}), exported into `{Path(models['snapshot']).parent}`.",
        f"- Biasing: {run['phrases']['phrases_per_clip']} phrases per clip (its true names + distractors from "
        f"{run['phrases']['pool_names']} names of the split"
        + (f", the text generator's {run['phrases']['contacts_pool']} contact names of the split among them"
           if run['phrases'].get('contacts_pool') else "")
        + f"); {run['phrases']['clips_with_names']} clips mention a name; bonus {run['context_score']:g} per token "
        "for both (sherpa-onnx hotwords_score, edgeasr context_score).",
        f"- Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; {m['platform']}; edgeasr kernels "
        f"{m['edgeasr_isa']}; one thread per system; nice {m['nice']}.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + f"; git {m['git']}; "
        f"edgeasr native module built {m['edgeasr_core']['mtime']}.",
        f"- Command: `{run['command']}`",
        f"- Date: {run['date']}; took {run['wall_s'] / 60:.1f} min; 1-minute load average {load['start'][0]:.2f} at "
        f"the start, {load['end'][0]:.2f} at the end.",
    ]
    if worst > 0.5:
        lines.append(f"- **Undertrained checkpoint** (WER up to {_pct(worst)}): the accuracy columns describe this "
                     "checkpoint, not the runtimes; speed, size and memory do not depend on it.")
    if max(load["start"][0], load["end"][0]) > 0.8 * (m["logical_cpus"] or 1):
        lines.append("- **Busy machine:** other work shared the CPUs while this ran; wall-clock real-time factors "
                     "are inflated (the CPU-time ones less so).")
    lines += ["", "## Targets: ratios of real-time factors", "",
              "| ratio | wall | CPU | target | met (wall, CPU) |", "|---|---:|---:|---|---|"]
    for r in report["ratios"]:
        met = ", ".join("yes" if r[f"met_{k}"] else "**no**" for k in ("wall", "cpu"))
        lines.append(f"| {r['name']} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['target']} | {met} |")
    lines += ["", "## Systems", "",
              "RTF: decoding time over audio time (wall; process CPU). Model MB: the files the system loads. Peak RSS: "
              "the system's own process (ru_maxrss), interpreter and libraries included; the floor row is Python "
              "reading the same clips and decoding nothing. Same as PyTorch: transcripts identical to PyTorch "
              "eager's with the same search.", "",
              "| system | WER | B-WER | U-WER | names found | false names | RTF wall | RTF CPU | model MB | "
              "peak RSS MB | load s | same as PyTorch |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in entries.values():
        if e["runtime"] == "floor":
            lines.append(f"| {e['label']} |  |  |  |  |  |  |  |  | {_mb(e['peak_rss_bytes'])} |  |  |")
            continue
        a = e["accuracy"]
        same = _pct(e["same_as_pytorch"]["fraction"]) if "same_as_pytorch" in e else ""
        ref = " (ref.)" if e["reference"] else ""
        lines.append(
            f"| {e['label']}{ref} | {_pct(a['wer'])} | {_pct(a['b_wer'])} | {_pct(a['u_wer'])} | "
            f"{a['names_recognized']}/{a['names']} | {a['false_name_phrases']} | {e['rtf_wall']:.4f} | "
            f"{e['rtf_cpu']:.4f} | {_mb(e['model_bytes'])} | {_mb(e['peak_rss_bytes'])} | {e['setup_s']:.2f} | "
            f"{same} |")
    for e in entries.values():
        if "context_graph_s" in e:
            lines += ["", f"{e['label']}: building the context graphs (Recognizer.context_graph, once per clip's list) "
                      f"took {e['context_graph_s']:.2f} s of its {e['decode_wall_s']:.2f} s decoding (wall)."]
    per_voice = wer_by_voice(report)
    if per_voice:
        voices = list(next(iter(per_voice.values())))
        lines += ["", "## WER per voice", "", "| system | " + " | ".join(voices) + " | all |",
                  "|---|" + "---:|" * (len(voices) + 1)]
        for key, by_voice in per_voice.items():
            lines.append(f"| {entries[key]['label']} | " + " | ".join(_pct(by_voice[v]) for v in voices)
                         + f" | {_pct(entries[key]['accuracy']['wer'])} |")
    lines += ["", "Notes on the searches (why beam transcripts differ even in fp32): sherpa-onnx's and the PyTorch "
              "modified beam search (icefall's) keep the best expansions by score without the biasing bonus, add the "
              "bonus after, merge hypotheses with the same token sequence and pick the result by score per token; "
              "edgeasr's adds the bonus before choosing, recombines hypotheses with the same last context_size tokens "
              "and biasing state (keeping the best sequence, the others as lattice arcs) and picks the result by "
              "total score. So one bonus per token biases edgeasr harder than sherpa-onnx."]
    lines += ["", "B-WER: errors on the words of each clip's true names (substitutions, deletions, and inserted words "
              "of its phrase list) over those words; U-WER: the other errors over the other words. Names found: true "
              "names present verbatim in the transcript. False names: list phrases in a transcript but not in its "
              "reference.", "", "## Examples", ""]
    keys = [k for k in ("torch-fp32-beam", "sherpa-int8-beam", "sherpa-int8-beam-hotwords", "edgeasr-int8-beam",
                        "edgeasr-int8-beam-context") if k in entries]
    with_names = [i for i, c in enumerate(report["clips"]) if c["names"]][:3] or [0]
    for i in with_names:
        c = report["clips"][i]
        lines.append(f"- `{c['uid']}` ({c['voice']}) ref: {c['text']}")
        for k in keys:
            lines.append(f"  - {entries[k]['label']}: {entries[k]['hypotheses'][i] or '(empty)'}")
    lines += ["", "Per-clip transcripts and times are in the JSON file next to this one.", ""]
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"sherpa-onnx": "tab:blue", "pytorch": "tab:red", "edgeasr": "tab:green"}
    markers = {("greedy_search", False): "o", ("modified_beam_search", False): "s",
               ("modified_beam_search", True): "*"}
    decoded = [e for e in report["systems"].values() if e["runtime"] != "floor"]
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5), sharey=True)
    for ax, kind in zip(axes, ("wall", "CPU")):
        for n, e in enumerate(decoded):
            x, y = e[f"rtf_{kind.lower()}"], 100 * e["accuracy"]["wer"]
            ax.scatter(x, y, s=140 if e["biasing"] else 70, color=colors[e["runtime"]],
                       marker=markers[(e["search"], e["biasing"])],
                       facecolors="none" if e["weights"] == "fp32" else colors[e["runtime"]], linewidths=1.5)
            # Alternate the label side: points of equal WER often sit close together.
            ax.annotate(e["label"], (x, y), textcoords="offset points", xytext=(6, 4 if n % 2 else -11), fontsize=7)
        ax.set_xscale("log")
        ax.margins(x=0.2)  # room for the labels of the rightmost points
        ax.set_xlabel(f"real-time factor, {kind} time (log scale; lower is faster)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("WER (%)")
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="", label=r) for r, c in colors.items()]
    handles += [plt.Line2D([], [], color="grey", marker=mk, linestyle="", label=lab) for mk, lab in
                (("o", "greedy"), ("s", "beam"), ("*", "beam + biasing"))]
    handles += [plt.Line2D([], [], color="grey", marker="o", markerfacecolor="none", linestyle="", label="fp32"),
                plt.Line2D([], [], color="grey", marker="o", linestyle="", label="int8")]
    axes[0].legend(handles=handles, fontsize=8, loc="best")
    run = report["run"]
    note = " — undertrained checkpoint" if max(e["accuracy"]["wer"] for e in decoded) > 0.5 else ""
    fig.suptitle(f"{run['clips']} clips of {run['corpus']}/{run['split']}, one thread per system, "
                 f"{report['machine']['cpu']}{note}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, help="training checkpoint (default: one recovered from the bundled "
                   "model file, its dequantized weights)")
    p.add_argument("--corpus", default="v1")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="clips, evenly over the voices (0: all)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_LIMIT} clips; writes e2e-quick.*")
    p.add_argument("--systems", help="comma-separated subset of: " + ", ".join(BY_KEY))
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--peer-beam", type=int, default=None,
                   help="sherpa-onnx's and PyTorch's beam (default: --beam), e.g. 4 against edgeasr's default 16")
    p.add_argument("--phrases", type=int, default=100, help="biasing phrases per clip")
    p.add_argument("--contacts-pool", action="store_true",
                   help="draw distractors also from the text generator's contact names of the split (1,500 for "
                        "test; needs the train extra), so --phrases 1000 is a 1,000-contact list")
    p.add_argument("--context-score", type=float, default=None,
                   help="biasing bonus per token, both runtimes (default: edgeasr's for --beam, tuned on dev: "
                        "edgeasr.recognizer.context_score_default)")
    p.add_argument("--blank-penalty", type=float, default=None,
                   help="lowers the blank's logit, every runtime (default: edgeasr's own per search, "
                        f"edgeasr.recognizer.SEARCH_DEFAULTS; sherpa-onnx and PyTorch {PEER_BLANK_PENALTY:g})")
    p.add_argument("--token-reward", type=float, default=None,
                   help="edgeasr's beam search: added to the score of every token emitted (default: its own, "
                        "edgeasr.recognizer.SEARCH_DEFAULTS)")
    p.add_argument("--lm", type=Path, default=default_lm_path(),
                   help="n-gram LM of the systems with -lm (default: the bundled one)")
    p.add_argument("--lm-scale", type=float, default=None,
                   help="their LM weight (default: edgeasr.recognizer.lm_search_defaults(--beam))")
    p.add_argument("--ilm-scale", type=float, default=None,
                   help="their internal-LM weight (default: 0)")
    p.add_argument("--lm-no-end", action="store_true",
                   help="their LM does not score the end of sentence (RecognizerConfig.lm_end_of_sentence=False)")
    p.add_argument("--tail-s", type=float, default=DEFAULT_TAIL_S, help="silence appended to every clip")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the exports go")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--name", help="file stem of the report in --out (default e2e, or e2e-quick with --quick)")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite --name's .md and .png in --out from its .json (nothing decoded)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.limit < 0:
        p.error(f"--limit: must be >= 0, got {a.limit}")
    if a.name is not None and (not a.name or a.name != Path(a.name).name or a.name in (".", "..")):
        p.error(f"--name: expected a plain file stem (no folders), got {a.name!r}")
    a.peer_beam = a.beam if a.peer_beam is None else a.peer_beam
    if a.context_score is None:
        a.context_score = context_score_default(a.beam)
    if min(a.beam, a.peer_beam) < 1 or min(a.phrases, a.tail_s, a.context_score, a.blank_penalty or 0.0) < 0:
        p.error("--beam and --peer-beam must be >= 1; --phrases, --tail-s, --context-score and --blank-penalty >= 0")
    if a.token_reward is not None and not math.isfinite(a.token_reward):
        p.error(f"--token-reward: expected a finite number, got {a.token_reward}")
    if a.systems:
        unknown = [k for k in a.systems.split(",") if k not in BY_KEY]
        if unknown:
            p.error(f"--systems: unknown {unknown}; choose from {list(BY_KEY)}")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.child:
        return child_main(a.child, a.job, a.result)
    if a.report_only:
        stem = a.name or ("e2e-quick" if a.quick else "e2e")
        report = json.loads((a.out / f"{stem}.json").read_text(encoding="utf-8"))
        (a.out / f"{stem}.md").write_text(markdown(report), encoding="utf-8")
        plot(report, a.out / f"{stem}.png")
        print(f"rewrote {a.out / stem}.{{md,png}} from its .json", file=sys.stderr)
        return 0
    t0, load_start = time.perf_counter(), os.getloadavg()
    limit = QUICK_LIMIT if a.quick else a.limit
    keys = a.systems.split(",") if a.systems else list(BY_KEY)
    try:
        checkpoint = resolve_checkpoint(a.checkpoint)
        all_clips = load_clips(a.corpus, a.split)
        models = prepare_models(checkpoint, a.cache)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from edgeasr.model_file import load_model

    table = load_model(models["edgeasr"]["int8"]).tokens
    models["lm"] = str(a.lm)  # the n-gram LM file of the systems with one (counted in their model MB)
    clips = even_over_voices(all_clips, limit)
    extra_pool: list[str] = []
    if a.contacts_pool:
        from edgeasr.train.text import contact_names  # the train extra (Faker)

        extra_pool = contact_names(a.split)
    phrase_info = attach_phrases(clips, all_clips, a.phrases, lambda n: table.unk_id not in table.encode(n),
                                 extra_pool)
    phrase_info["contacts_pool"] = len(extra_pool)
    peer_blank_penalty = a.blank_penalty if a.blank_penalty is not None else PEER_BLANK_PENALTY
    edgeasr_scores = {search: search_scores(search, a.blank_penalty, a.token_reward)
                      for search in ("greedy_search", "modified_beam_search")}
    job = {"clips": clips, "tail_s": a.tail_s, "beam": a.beam, "peer_beam": a.peer_beam,
           "context_score": a.context_score,
           "blank_penalty": a.blank_penalty, "token_reward": a.token_reward, "peer_blank_penalty": peer_blank_penalty,
           "lm_scale": a.lm_scale, "lm_end_of_sentence": not a.lm_no_end, "ilm_scale": a.ilm_scale,
           "chunk_frames": models["chunk_frames"], "sample_rate": SAMPLE_RATE, "models": models}
    work = a.cache / f".run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    entries = {}
    try:
        job_path = work / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        for key in keys:
            result = run_child(key, job_path, work)
            system = BY_KEY[key]
            entries[key] = summarize(system, result, clips, models,
                                     a.beam if system.runtime == "edgeasr" else a.peer_beam)
            e = entries[key]
            wer = f"WER {_pct(e['accuracy']['wer'])}, " if "accuracy" in e else ""
            print(f"  {wer}RTF {e['rtf_wall']:.4f} wall, {e['rtf_cpu']:.4f} CPU, peak RSS "
                  f"{_mb(e['peak_rss_bytes'])} MB", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    agreement(entries)
    report = {
        "run": {"command": "python " + shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
                "quick": a.quick, "corpus": a.corpus, "split": a.split, "limit": limit, "clips": len(clips),
                "voices": len({c["voice"] for c in clips}), "audio_s": sum(c["duration_s"] for c in clips),
                "tail_s": a.tail_s, "beam": a.beam, "peer_beam": a.peer_beam, "context_score": a.context_score,
                "blank_penalty": a.blank_penalty, "token_reward": a.token_reward,
                "lm": _repo_path(a.lm) if any(BY_KEY[k].lm for k in keys) else None, "lm_scale": a.lm_scale,
                "lm_end_of_sentence": not a.lm_no_end, "ilm_scale": a.ilm_scale,
                "lm_scores": lm_scores(a.lm_scale, a.token_reward, a.ilm_scale, a.beam),
                "peer_blank_penalty": peer_blank_penalty, "edgeasr_scores": edgeasr_scores, "phrases": phrase_info,
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "wall_s": time.perf_counter() - t0, "load_average": {"start": load_start, "end": os.getloadavg()}},
        "machine": machine_info(), "models": models, "ratios": ratios(entries), "systems": entries,
        # Without the phrase lists (100 per clip): attach_phrases rebuilds them, seeded by the clip ids.
        "clips": [{k: c[k] for k in ("uid", "voice", "kind", "text", "names", "duration_s")} for c in clips],
    }
    stem = a.name or ("e2e-quick" if a.quick else "e2e")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = markdown(report)
    (a.out / f"{stem}.md").write_text(text, encoding="utf-8")
    plot(report, a.out / f"{stem}.png")
    print(text)
    print(f"wrote {a.out / stem}.{{json,md,png}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
