"""Compression: one student made small every way the issue lists, each measured natively (issue 6's table).

    python bench/compression.py \
        --qat "QAT int4 50 % sparse=~/.cache/edgeasr/runs/student-qat4-sparse50-quick/checkpoint-best.pt:int4:0.5"
    python bench/compression.py --limit 100 --no-fsdd       # a quick look: writes compression-limit100.*

Rows: the teacher (float32), the float student, post-training quantization (PTQ: ``export_model`` of the float
student with the row's bits and magnitude sparsity) at int8, int4, int8 + 50 %, int4 + 50 %, int4 + 70 %, and the
compression fine-tunes (QAT: ``--qat LABEL=CHECKPOINT:int8|int4:SPARSITY``, exported with their own masks). A row
whose checkpoint does not exist yet is listed as "not trained yet", never filled in.

Each checkpoint is copied first (training may overwrite it) into ~/.cache/edgeasr/bench/compression/, keyed by its
sha256, and exported there once per variant. Every model file is then measured with ``edgeasr.Recognizer``
(modified beam search, beam 4, one thread): parameters, nonzeros and bytes from the file (``ModelFile.describe``),
WER per held-out voice on the corpus test split (``--limit`` clips evenly over the voices, 0 = all), FSDD digit
accuracy (real 8 kHz speech, resampled by the recognizer; right when the transcript, stripped, is the digit's word,
as ``edgeasr evaluate --fsdd`` scores it), and the real-time factor: process CPU time of ``transcribe`` (features,
encoder, search) over the test clips' audio time, wall time beside it.

Plots: weight histograms of an LSTM recurrent matrix and the joiner's output matrix in units of the quantization step
(w / scale per row, the scale as ``edgeasr.train.qat.quantize_rows`` computes it, with the run's keep-masks), for
the float student and every checkpoint of each QAT run's directory; and bytes on disk against WER and FSDD accuracy.
Writes bench/results/compression.{json,md}, compression_weights.png, compression_size.png.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread: before numpy or torch start their pools

import argparse  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import numpy as np  # noqa: E402

from e2e import BenchError, even_over_voices, load_clips, machine_info, normalize, search_scores  # noqa: E402

from edgeasr.recognizer import RecognizerConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "edgeasr"
DEFAULT_STUDENT = CACHE / "bundled" / "student-v5-onset-e1.pt"   # run v5: the bundled model's float start
DEFAULT_EXPORTS = CACHE / "bench" / "compression"
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd"
RESULTS = REPO / "bench" / "results"
NOT_TRAINED = "not trained yet"
WITHIN_FLOAT = 1.05  # the issue: QAT int4 50 % within 5 % relative of the float student
# Matrices for the histograms (model-file names): one LSTM recurrent matrix and the joiner's output.
HIST_MATRICES = ("encoder.layers.1.weight_hh_l0", "joiner.output.weight")


@dataclass
class Row:
    key: str
    label: str
    kind: str                      # "teacher", "float", "ptq" or "qat"
    weights: str                   # "float32", "int8", "int4"
    sparsity: float = 0.0
    checkpoint: Optional[Path] = None   # None: not trained yet
    model: Optional[dict] = None         # the copied checkpoint (see stage_checkpoint)
    file: Optional[Path] = None
    note: str = ""
    result: dict = field(default_factory=dict)

    @property
    def bits(self) -> int:
        return {"int8": 8, "int4": 4}.get(self.weights, 32)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints and exports
# ---------------------------------------------------------------------------------------------------------------

def stage_checkpoint(checkpoint: Path, root: Path) -> dict:
    """Copy ``checkpoint`` (and the run's bpe.model beside it) into ``root``/<run>-<name>-<sha16>/ once; returns
    {"source", "copy", "sha256", "step", "epoch", "best_wer", "mask_sparsity"}. The copy keeps the file name, so
    the exported files say where they came from as the shipped model does."""
    import torch

    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    try:
        tmp = staging / checkpoint.name
        shutil.copyfile(checkpoint, tmp)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        folder = root / f"{checkpoint.parent.name}-{checkpoint.stem}-{digest[:16]}"
        info_path = folder / "checkpoint.json"
        if not info_path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            if (checkpoint.parent / "bpe.model").is_file():  # where export finds the BPE piece scores
                shutil.copyfile(checkpoint.parent / "bpe.model", folder / "bpe.model")
            os.replace(tmp, folder / checkpoint.name)
            state = torch.load(folder / checkpoint.name, map_location="cpu", weights_only=False)
            progress = state.get("progress", {}) if isinstance(state, dict) else {}
            masks = (state.get("compress") or {}).get("masks") or {}
            dropped = sum(int((~m.bool()).sum()) for m in masks.values())
            total = sum(m.numel() for m in masks.values())
            info = {"source": str(checkpoint), "copy": str(folder / checkpoint.name), "sha256": digest,
                    "step": progress.get("step"), "epoch": progress.get("epoch"),
                    "best_wer": progress.get("best_wer"),
                    "mask_sparsity": dropped / total if total else None}
            info_path.write_text(json.dumps(info, indent=1), encoding="utf-8")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return json.loads(info_path.read_text(encoding="utf-8"))


def export_row(row: Row) -> None:
    """The row's model file, exported once per (checkpoint sha256, weights, sparsity) beside the copy."""
    from edgeasr.train.export import export_model

    copy = Path(row.model["copy"])
    sparsity = row.sparsity
    masked = row.model.get("mask_sparsity")
    if row.kind == "qat" and sparsity > 0 and masked is not None and abs(masked - sparsity) > 0.01:
        # A checkpoint from before the pruning ramp reached its target: export keeps its masks exactly, so the row
        # is measured at the sparsity it has, and says so.
        row.note = (f"its masks drop {masked:.1%} of the weights, not {sparsity:.0%} (checkpoint from step "
                    f"{row.model['step']}, before the ramp's end)")
        sparsity = round(masked, 2)
    name = f"{row.weights}" + (f"-sparse{sparsity:g}" if sparsity else "") + ".safetensors"
    out = copy.parent / name
    if not out.is_file():
        print(f"exporting {copy.name} as {name} ...", file=sys.stderr, flush=True)
        tmp = out.with_name(f".tmp{os.getpid()}-{name}")
        export_model(copy, tmp, weights=row.weights, sparsity=sparsity)
        os.replace(tmp, out)
    row.file = out
    row.result["exported_sparsity"] = sparsity


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def same_contents(a: Path, b: Path) -> bool:
    """Whether two safetensors files hold the same tensors and metadata (the header's key order may differ)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(str(a), framework="np") as fa, safe_open(str(b), framework="np") as fb:
        if fa.metadata() != fb.metadata():
            return False
    ta, tb = load_file(str(a)), load_file(str(b))
    return ta.keys() == tb.keys() and all(ta[k].dtype == tb[k].dtype and np.array_equal(ta[k], tb[k]) for k in ta)


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------

def read_test(corpus: str, split: str, limit: int) -> list[dict]:
    import soundfile as sf

    clips = even_over_voices(load_clips(corpus, split), limit)
    for c in clips:
        samples, rate = sf.read(c["path"], dtype="float32", always_2d=False)
        c["samples"], c["rate"] = samples, rate
    return clips


def read_fsdd(folder: Path, limit: int) -> list[dict]:
    """The FSDD clips (``limit`` evenly over the sorted files as ``evaluate_fsdd`` picks them; 0: all)."""
    import soundfile as sf

    from edgeasr.train.evaluate import FSDD_DIGITS

    files = sorted(Path(folder).glob("*.wav"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    if not files:
        raise BenchError(f"--fsdd {folder}: no FSDD .wav files")
    out = []
    for f in files:
        samples, rate = sf.read(f, dtype="float32", always_2d=False)
        digit, speaker, _ = f.stem.split("_")
        out.append({"uid": f.stem, "speaker": speaker, "text": FSDD_DIGITS[int(digit)], "samples": samples,
                    "rate": rate})
    return out


# ---------------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------------

def decode_all(rec, clips: list[dict]) -> tuple[list[str], float, float]:
    """Transcripts (raw), CPU seconds and wall seconds spent in ``transcribe``, first clip decoded once untimed."""
    rec.transcribe(clips[0]["samples"], clips[0]["rate"])
    texts, cpu, wall = [], 0.0, 0.0
    for c in clips:
        c0, w0 = time.process_time(), time.perf_counter()
        text = rec.transcribe(c["samples"], c["rate"]).result().text
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        texts.append(text)
    return texts, cpu, wall


def measure(row: Row, test: list[dict], fsdd: list[dict], beam: int, blank_penalty: Optional[float]) -> None:
    from edgeasr.model_file import load_model
    from edgeasr.recognizer import Recognizer
    from edgeasr.train.evaluate import wer_by_voice

    model = load_model(row.file)
    totals = model.describe()["totals"]
    rec = Recognizer(model, RecognizerConfig(decoding="modified_beam_search", beam=beam,
                                             blank_penalty=blank_penalty))
    r = row.result
    r.update(file=str(row.file), file_sha256=sha256_file(row.file), parameters=totals["parameters"],
             nonzeros=totals["nonzeros"], weight_bytes=totals["bytes"], file_bytes=totals["file_bytes"],
             formats=sorted(set(model.weights_format.values())))
    t0 = time.perf_counter()
    raw, cpu, wall = decode_all(rec, test)
    hyps = [normalize(t) for t in raw]
    audio = sum(c["samples"].size / c["rate"] for c in test)
    by_voice = wer_by_voice([normalize(c["text"]) for c in test], hyps, [c["voice"] for c in test])
    r.update(wer=by_voice["all"]["wer"], wer_by_voice=by_voice, rtf_cpu=cpu / audio, rtf_wall=wall / audio,
             test_cpu_s=cpu, test_wall_s=wall, test_audio_s=audio,
             hypotheses={c["uid"]: h for c, h in zip(test, hyps)})
    print(f"  {row.label}: WER {r['wer']:.2%}, RTF CPU {r['rtf_cpu']:.4f} ({time.perf_counter() - t0:.0f} s)",
          file=sys.stderr, flush=True)
    if fsdd:
        raw, cpu, _ = decode_all(rec, fsdd)
        right = [t.strip() == c["text"] for t, c in zip(raw, fsdd)]  # evaluate_fsdd's rule
        by_speaker: dict[str, list[bool]] = defaultdict(list)
        for c, ok in zip(fsdd, right):
            by_speaker[c["speaker"]].append(ok)
        r["fsdd"] = {"accuracy": sum(right) / len(right), "clips": len(right),
                     "by_speaker": {s: sum(v) / len(v) for s, v in sorted(by_speaker.items())},
                     "cpu_s": cpu, "examples": [(c["uid"], t) for c, t in zip(fsdd[:10], raw[:10])]}
        print(f"  {row.label}: FSDD {r['fsdd']['accuracy']:.1%}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Rows and checks
# ---------------------------------------------------------------------------------------------------------------

PTQ = [("ptq-int8", "student PTQ int8", "int8", 0.0), ("ptq-int4", "student PTQ int4", "int4", 0.0),
       ("ptq-int8-s50", "student PTQ int8 + 50 % pruned", "int8", 0.5),
       ("ptq-int4-s50", "student PTQ int4 + 50 % pruned", "int4", 0.5),
       ("ptq-int4-s70", "student PTQ int4 + 70 % pruned", "int4", 0.7)]
ISSUE_QAT = [("int8", 0.0, "QAT int8"), ("int4", 0.0, "QAT int4"), ("int8", 0.5, "QAT int8 50 % sparse"),
             ("int4", 0.5, "QAT int4 50 % sparse"), ("int4", 0.7, "QAT int4 70 % sparse")]


def parse_qat(spec: str) -> tuple[str, Path, str, float]:
    """LABEL=CHECKPOINT:int8|int4:SPARSITY."""
    label, sep, rest = spec.partition("=")
    parts = rest.rsplit(":", 2)
    if not sep or len(parts) != 3 or parts[1] not in ("int8", "int4"):
        raise argparse.ArgumentTypeError(f"--qat {spec!r}: expected LABEL=CHECKPOINT:int8|int4:SPARSITY")
    try:
        sparsity = float(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"--qat {spec!r}: sparsity {parts[2]!r} is not a number") from None
    if not 0 <= sparsity < 1:
        raise argparse.ArgumentTypeError(f"--qat {spec!r}: sparsity must lie in [0, 1)")
    return label.strip(), Path(parts[0]).expanduser(), parts[1], sparsity


def build_rows(a: argparse.Namespace) -> list[Row]:
    rows = [Row("teacher", "teacher float32", "teacher", "float32", checkpoint=a.teacher),
            Row("student", "student float32", "float", "float32", checkpoint=a.student)]
    rows += [Row(k, label, "ptq", w, s, checkpoint=a.student) for k, label, w, s in PTQ]
    given = set()
    for i, (label, path, weights, sparsity) in enumerate(a.qat):
        rows.append(Row(f"qat{i}-{weights}-s{sparsity:g}", label, "qat", weights, sparsity, checkpoint=path))
        given.add((weights, sparsity))
    for weights, sparsity, label in ISSUE_QAT:  # the issue's QAT rows nobody has trained yet
        if (weights, sparsity) not in given:
            rows.append(Row(f"qat-{weights}-s{sparsity:g}", label, "qat", weights, sparsity))
    return rows


DISTILLED = " + distillation"   # how a distilled row's label marks it


def _without_notes(label: str) -> str:
    """A row's label without a trailing parenthesized note: "QAT int4, 1000 steps (bundled)" -> "QAT int4, 1000
    steps"."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", label)


def checks(rows: list[Row]) -> list[dict]:
    """The issue's conditions, from the measured numbers; a condition without its rows is "not measurable"."""
    done = {r.key: r for r in rows if "wer" in r.result}
    student = done.get("student")
    out = []
    qats = [r for r in rows if r.kind == "qat"]
    for r in qats:
        if r.weights == "int4" and r.sparsity == 0.5:
            item = {"check": f"{r.label}: WER within 5 % relative of the float student (<= {WITHIN_FLOAT:g} x)"}
            if r.key in done and r.note:
                item.update(value=f"{r.result['wer']:.2%} vs {student.result['wer']:.2%}, but {r.note}", met=None)
            elif r.key in done and student:
                ratio = r.result["wer"] / student.result["wer"]
                item.update(value=f"{ratio:.3f} x ({r.result['wer']:.2%} vs {student.result['wer']:.2%})",
                            met=ratio <= WITHIN_FLOAT)
            else:
                item.update(value=NOT_TRAINED if r.checkpoint is None else "not measured", met=None)
            out.append(item)
    for r in qats:
        ptq = next((p for p in rows if p.kind == "ptq" and p.weights == r.weights and p.sparsity == r.sparsity), None)
        item = {"check": f"{r.label} better than PTQ at the same bits and sparsity"
                         + (f" ({ptq.label})" if ptq else "") + ": lower WER"}
        if r.key in done and ptq is not None and ptq.key in done:
            q, p = r.result, ptq.result
            wer_ok = q["wer"] < p["wer"]
            value = f"WER {q['wer']:.2%} vs {p['wer']:.2%}"
            if "fsdd" in q and "fsdd" in p:
                value += f"; FSDD {q['fsdd']['accuracy']:.1%} vs {p['fsdd']['accuracy']:.1%}"
            if r.note:
                item.update(value=f"{value}, but {r.note}", met=None)
            else:
                item.update(value=value, met=wer_ok)
        else:
            item.update(value=NOT_TRAINED if r.checkpoint is None else "not measured", met=None)
        out.append(item)
    # Distillation: a row labelled "X + distillation, ..." against the row "X, ..." (same recipe, same steps).
    by_label = {_without_notes(r.label): r for r in qats}
    for r in qats:
        base = by_label.get(_without_notes(r.label).replace(DISTILLED, "")) if DISTILLED in r.label else None
        if base is None:
            continue
        item = {"check": f"{r.label} beats {base.label} (the same without the teacher): lower WER"}
        if r.key in done and base.key in done:
            d, b = r.result, base.result
            value = f"WER {d['wer']:.2%} vs {b['wer']:.2%}"
            if "fsdd" in d and "fsdd" in b:
                value += f"; FSDD {d['fsdd']['accuracy']:.1%} vs {b['fsdd']['accuracy']:.1%}"
            item.update(value=value, met=d["wer"] < b["wer"])
        else:
            item.update(value="not measured", met=None)
        out.append(item)
    teacher = done.get("teacher")
    item = {"check": "shipped student <= 1 % of the float32 teacher's bytes and WER <= 1.1 x the teacher's"}
    item.update(value=NOT_TRAINED + " (no teacher)", met=None) if teacher is None else item.update(
        value="see the table", met=None)
    out.append(item)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------------

def histogram_sources(rows: list[Row], root: Path) -> list[dict]:
    """The float student, then each QAT row's own checkpoint and the other checkpoints of its run's directory (best
    and latest when both exist)."""
    out = []
    student = next(r for r in rows if r.key == "student")
    qat = [r for r in rows if r.kind == "qat" and r.model]
    bits = qat[0].bits if qat else 4
    if student.model:
        out.append({"label": f"float student ({Path(student.model['source']).name})", "model": student.model,
                    "bits": bits, "masked": False})
    seen = set()
    for r in qat:
        own = Path(r.model["source"])
        folder = own.parent
        for path in [own] + sorted(p for p in folder.glob("checkpoint-*.pt") if p != own):
            key = (str(path), r.bits)
            if key in seen:
                continue
            seen.add(key)
            model = r.model if path == Path(r.model["source"]) else stage_checkpoint(path, root)
            out.append({"label": f"{folder.name}/{path.name} (step {model['step']})", "model": model,
                        "bits": r.bits, "masked": True})
    return out


def weight_units(source: dict) -> dict:
    """Per matrix: w / scale (the scale of ``qat.quantize_rows`` with the checkpoint's masks), the pruned flags,
    and the level penalty (mean sin^2(pi w / scale) over kept weights: 0 when every weight sits on a level)."""
    import torch

    from edgeasr.train.export import checkpoint_masks, load_trained
    from edgeasr.train.qat import export_view, level_penalty, quantize_rows

    model, _ = load_trained(source["model"]["copy"])
    masks = checkpoint_masks(source["model"]["copy"]) if source["masked"] else {}
    out = {}
    with torch.no_grad():
        view = export_view(model)
        for name in HIST_MATRICES:
            w = view[name].detach().float()
            keep = masks.get(name)
            _, scales = quantize_rows(w, source["bits"], keep)
            units = (w / scales[:, None]).numpy().ravel()
            pruned = np.zeros(units.size, bool) if keep is None else (~keep.bool()).numpy().ravel()
            penalty = float(level_penalty({name: w}, source["bits"], None if keep is None else {name: keep}))
            out[name] = {"units": units, "pruned": pruned, "level_penalty": penalty}
    return out


def save_figure(fig, path: Path) -> None:
    """Lays out under the suptitle (room for it above the first row's titles), writes, closes."""
    import matplotlib.pyplot as plt

    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_weights(sources: list[dict], path: Path) -> list[dict]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgeasr.train.qat import QMAX

    summary = []
    fig, axes = plt.subplots(len(sources), len(HIST_MATRICES), figsize=(7 * len(HIST_MATRICES),
                                                                         2.6 * len(sources) + 0.8), squeeze=False)
    for i, src in enumerate(sources):
        data = weight_units(src)
        qmax = QMAX[src["bits"]]
        bins_per_step = 9 if src["bits"] == 4 else 1  # odd: each level is the centre of a bin
        edges = np.linspace(-qmax - 0.5, qmax + 0.5, (2 * qmax + 1) * bins_per_step + 1)
        for j, name in enumerate(HIST_MATRICES):
            ax = axes[i][j]
            d = data[name]
            kept, pruned = d["units"][~d["pruned"]], d["units"][d["pruned"]]
            ax.hist([kept, pruned], bins=edges, stacked=True, color=["tab:blue", "tab:red"],
                    label=["kept", "pruned (stored as 0)"])
            ax.set_yscale("log")
            if src["bits"] == 4:
                for level in range(-qmax, qmax + 1):
                    ax.axvline(level, color="grey", lw=0.4, alpha=0.5)
            ax.set_title(f"{src['label']}\n{name}: {d['pruned'].mean():.0%} pruned, level penalty "
                         f"{d['level_penalty']:.3f}", fontsize=8)
            if i == len(sources) - 1 or sources[i + 1]["bits"] != src["bits"]:  # the units change with the bits
                ax.set_xlabel(f"w / scale (int{src['bits']} steps; scale = max|w_row| / {qmax})", fontsize=8)
            if j == 0:
                ax.set_ylabel("weights (log)")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
            summary.append({"source": src["label"], "matrix": name, "bits": src["bits"],
                            "pruned": float(d["pruned"].mean()), "level_penalty": d["level_penalty"],
                            "checkpoint_sha256": src["model"]["sha256"]})
    fig.suptitle("Weights in units of the quantization step (level penalty: mean sin²(π w/scale) over kept weights, "
                 "0 = all on levels, 0.5 = uniform)", fontsize=9)
    save_figure(fig, path)
    return summary


def plot_size(rows: list[Row], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if "wer" in r.result]
    has_fsdd = any("fsdd" in r.result for r in done)
    fig, axes = plt.subplots(1, 2 if has_fsdd else 1, figsize=(13 if has_fsdd else 7, 5), squeeze=False)
    colors = {"teacher": "black", "float": "tab:gray", "ptq": "tab:orange", "qat": "tab:green"}
    for ax, what in zip(axes[0], ("wer", "fsdd")):
        for n, r in enumerate(done):
            if what == "fsdd" and "fsdd" not in r.result:
                continue
            x = r.result["file_bytes"] / 1e6
            y = 100 * (r.result["wer"] if what == "wer" else r.result["fsdd"]["accuracy"])
            ax.scatter(x, y, color=colors[r.kind], s=50, marker="s" if r.kind == "qat" else "o")
            ax.annotate(r.label, (x, y), textcoords="offset points", xytext=(5, 4 if n % 2 else -10), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("model file, MB (log)")
        ax.set_ylabel("WER on held-out voices (%)" if what == "wer" else "FSDD digit accuracy (%)")
        ax.grid(alpha=0.3, which="both")
        ax.margins(x=0.25)
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="", label=k) for k, c in colors.items()]
    axes[0][0].legend(handles=handles, fontsize=8)
    fig.suptitle("Bytes on disk against accuracy, native runtime, modified beam search (beam 4)", fontsize=10)
    save_figure(fig, path)


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------

def _pct(x: Optional[float]) -> str:
    return "" if x is None else f"{100 * x:.1f} %"


def markdown(report: dict, rows: list[Row]) -> str:
    run, m = report["run"], report["machine"]
    student = next((r for r in rows if r.key == "student" and "wer" in r.result), None)
    lines = [
        f"# Compression: the student at every size{'' if run['full'] else ' (partial run)'}",
        "",
        f"- Command: `{run['command']}`",
        f"- Date: {run['date']}; took {run['wall_s'] / 60:.1f} min; 1-minute load average "
        f"{run['load_average']['start'][0]:.2f} at the start, {run['load_average']['end'][0]:.2f} at the end "
        f"({m['logical_cpus']} logical CPUs).",
        f"- Machine: {m['cpu']}; {m['platform']}; edgeasr kernels {m['edgeasr_isa']}; one thread; nice {m['nice']}; "
        f"git {m['git']}; edgeasr native module built {m['edgeasr_core']['mtime']}.",
        f"- Test data: {run['test_clips']} clips of corpus {run['corpus']}/{run['split']} "
        f"({run['test_audio_s'] / 60:.1f} min, voices {', '.join(run['voices'])}, none heard in training), "
        "evenly over the voices"
        + (f" (--limit {run['limit']})" if run["limit"] else " (all)") + ".",
        "- FSDD: " + (f"{run['fsdd_clips']} clips of `{run['fsdd']}` (real speakers, 8 kHz, resampled by the "
                      "recognizer); right when the transcript, stripped, is the digit's word."
                      if run["fsdd_clips"] else "not measured (--no-fsdd)."),
        f"- Decoding: `edgeasr.Recognizer`, modified beam search, beam {run['beam']}, blank penalty "
        f"{run['blank_penalty']:g}, token reward {run['token_reward']:g}, chunks of 16 feature frames. "
        "RTF: process CPU time in `transcribe` over audio time (wall in the JSON).",
        "- Checkpoints (copied, then exported by `edgeasr.train.export.export_model` into "
        f"`{run['exports']}`):",
    ]
    for key, model in report["checkpoints"].items():
        extra = f", masks drop {model['mask_sparsity']:.1%}" if model.get("mask_sparsity") is not None else ""
        lines.append(f"  - {key}: `{model['source']}` sha256 `{model['sha256']}` (step {model['step']}, epoch "
                     f"{model['epoch']}{extra})")
    if student and student.result["wer"] > 0.5:
        lines.append(f"- **Undertrained student** (float WER {student.result['wer']:.1%}): the accuracy columns "
                     "describe this checkpoint; size and speed do not depend on it.")
    load = run["load_average"]
    if max(load["start"][0], load["end"][0]) > 0.8 * (m["logical_cpus"] or 1):
        lines.append("- **Busy machine:** other processes shared the CPUs; wall times are inflated, CPU-time RTFs "
                     "less so.")
    lines += ["", "| row | weights | params | nonzeros | bytes on disk | × float | WER | WER / float | FSDD acc. | "
              "RTF (CPU) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        res = r.result
        sparsity = res.get("exported_sparsity", r.sparsity)
        weights = r.weights + (f", {sparsity:.0%} sparse" if sparsity else "")
        if "wer" not in res:
            lines.append(f"| {r.label} | {weights} | {res.get('status', NOT_TRAINED)} |  |  |  |  |  |  |  |")
            continue
        rel_bytes = f"{res['file_bytes'] / student.result['file_bytes']:.3f}" if student else ""
        rel_wer = f"{res['wer'] / student.result['wer']:.3f}" if student else ""
        fsdd = _pct(res["fsdd"]["accuracy"]) if "fsdd" in res else ""
        note = " ¹" if r.note else ""
        lines.append(f"| {r.label}{note} | {weights} | {res['parameters']:,} | {res['nonzeros']:,} | "
                     f"{res['file_bytes']:,} | {rel_bytes} | {_pct(res['wer'])} | {rel_wer} | {fsdd} | "
                     f"{res['rtf_cpu']:.4f} |")
    notes = [r for r in rows if r.note]
    for r in notes:
        lines.append(f"\n¹ {r.label}: {r.note}.")
    shipped = [r.label for r in rows if r.result.get("same_contents_as_default_model")]
    if shipped:
        lines.append(f"\n{', '.join(shipped)}: the same tensors and metadata as the model shipped in the package "
                     "(`python/edgeasr/data/default_model.safetensors`).")
    lines += ["", "Params and nonzeros: the model file's tensors (the CTC head is not exported); bytes: the whole file "
              "(weights, scales, masks, token table, metadata).", "", "## WER per held-out voice", ""]
    done = [r for r in rows if "wer" in r.result]
    if done:
        voices = [v for v in done[0].result["wer_by_voice"] if v != "all"]
        lines += ["| row | " + " | ".join(voices) + " |", "|---|" + "---:|" * len(voices)]
        for r in done:
            per_voice = r.result["wer_by_voice"]
            lines.append(f"| {r.label} | " + " | ".join(_pct(per_voice[v]["wer"]) for v in voices) + " |")
    lines += ["", "## The issue's checks", "", "| check | measured | met |", "|---|---|---|"]
    for c in report["checks"]:
        met = {True: "met", False: "**not met**", None: "not measurable"}[c["met"]]
        lines.append(f"| {c['check']} | {c['value']} | {met} |")
    if report.get("weights_plot"):
        lines += ["", "## Weights", "", "![weights](compression_weights.png)", "",
                  "| checkpoint | matrix | unit | pruned | level penalty |", "|---|---|---|---:|---:|"]
        for s in report["weights_plot"]:
            lines.append(f"| {s['source']} | {s['matrix']} | int{s['bits']} step | {s['pruned']:.1%} | "
                         f"{s['level_penalty']:.3f} |")
        lines += ["", "Level penalty: mean sin²(π w / scale) over the kept weights "
                  "(`edgeasr.train.qat.level_penalty`): 0 when every weight sits on a quantization level, about 0.5 "
                  "for weights spread evenly."]
    lines += ["", "## Size against accuracy", "", "![size](compression_size.png)", "",
              "Per-clip transcripts, per-speaker FSDD accuracy and the model files' sha256 are in compression.json.",
              ""]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--student", type=Path, default=DEFAULT_STUDENT, help="the float student's checkpoint")
    p.add_argument("--teacher", type=Path, help="the float32 teacher's checkpoint (none yet: 'not trained yet')")
    p.add_argument("--qat", type=parse_qat, action="append", default=[],
                   help="LABEL=CHECKPOINT:int8|int4:SPARSITY, a compression fine-tune (repeatable)")
    p.add_argument("--corpus", default="v1")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=0, help="test clips, evenly over the voices (0: all)")
    p.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    p.add_argument("--fsdd-limit", type=int, default=0, help="FSDD clips, evenly over the files (0: all)")
    p.add_argument("--no-fsdd", action="store_true", help="skip FSDD")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--blank-penalty", type=float, default=None,
                   help="lowers the blank's logit before the softmax (default: the runtime's)")
    p.add_argument("--cache", type=Path, default=DEFAULT_EXPORTS, help="where copies and exports go")
    p.add_argument("--out", type=Path, help="output stem (default bench/results/compression, or "
                   "compression-limitN for partial runs)")
    a = p.parse_args(argv)
    if a.limit < 0 or a.fsdd_limit < 0 or a.beam < 1 or (a.blank_penalty or 0.0) < 0:
        p.error("--limit, --fsdd-limit and --blank-penalty must be >= 0, --beam >= 1")
    a.student, a.teacher = a.student.expanduser(), a.teacher.expanduser() if a.teacher else None
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    t0, load_start = time.perf_counter(), os.getloadavg()
    full = a.limit == 0 and not a.no_fsdd and a.fsdd_limit == 0
    out = a.out or RESULTS / ("compression" if full else f"compression-limit{a.limit or 'all'}"
                              + ("-nofsdd" if a.no_fsdd else f"-fsdd{a.fsdd_limit}" if a.fsdd_limit else ""))
    rows = build_rows(a)
    try:
        if not a.student.is_file():
            raise BenchError(f"--student {a.student}: no such file")
        test = read_test(a.corpus, a.split, a.limit)
        fsdd = [] if a.no_fsdd else read_fsdd(a.fsdd, a.fsdd_limit)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    checkpoints = {}
    for r in rows:
        if r.checkpoint is None:
            r.result["status"] = NOT_TRAINED
            continue
        if not r.checkpoint.is_file():
            r.result["status"] = NOT_TRAINED + f" (no {r.checkpoint})"
            continue
        r.model = stage_checkpoint(r.checkpoint, a.cache)
        role = {"qat": r.label, "teacher": "teacher"}.get(r.kind, "student (float and PTQ rows)")
        checkpoints.setdefault(role, r.model)
        try:
            export_row(r)
        except ValueError as e:  # e.g. masks that fit no sparsity: the row says why instead of a number
            r.result["status"] = f"export failed: {e}"
            continue
        measure(r, test, fsdd, a.beam, a.blank_penalty)
    default_model = REPO / "python" / "edgeasr" / "data" / "default_model.safetensors"
    for r in rows:
        if "file_sha256" in r.result and default_model.is_file():
            r.result["same_contents_as_default_model"] = same_contents(r.file, default_model)
    weights_summary = []
    out.parent.mkdir(parents=True, exist_ok=True)
    sources = histogram_sources(rows, a.cache)
    if sources:
        weights_summary = plot_weights(sources, out.with_name(out.name + "_weights.png"))
    plot_size(rows, out.with_name(out.name + "_size.png"))
    argv_used = sys.argv[1:] if argv is None else list(argv)
    report = {
        "run": {"command": "python bench/compression.py" + (" " + shlex.join(argv_used) if argv_used else ""),
                "full": full, "corpus": a.corpus, "split": a.split, "limit": a.limit, "test_clips": len(test),
                "voices": sorted({c["voice"] for c in test}),
                "test_audio_s": sum(c["samples"].size / c["rate"] for c in test),
                "fsdd": str(a.fsdd), "fsdd_clips": len(fsdd), "beam": a.beam,
                **search_scores("modified_beam_search", a.blank_penalty),
                "exports": str(a.cache),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "wall_s": time.perf_counter() - t0, "load_average": {"start": load_start, "end": os.getloadavg()}},
        "machine": machine_info(), "checkpoints": checkpoints,
        "rows": [{"key": r.key, "label": r.label, "kind": r.kind, "weights": r.weights, "sparsity": r.sparsity,
                  "checkpoint": None if r.model is None else r.model["sha256"], "note": r.note, **r.result}
                 for r in rows],
        "checks": checks(rows), "weights_plot": weights_summary,
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = markdown(report, rows)
    if out.name != "compression":  # the plots are linked by their default names
        text = text.replace("compression_weights.png", out.name + "_weights.png").replace(
            "compression_size.png", out.name + "_size.png")
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out}.{{json,md}}, {out.name}_weights.png, {out.name}_size.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
