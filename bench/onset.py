"""Speech that starts at once: WER with the leading silence cut off, and FSDD (clips cut at the speech onset).

    python bench/onset.py                                                    # the shipped default model, dev
    python bench/onset.py --model "v3 e9=~/.cache/edgeasr/bundled/student-v3-e9.pt" --split test

The synthesized corpus puts 50-300 ms of silence (plus a margin) before every utterance; push-to-talk audio and clips
cut at the onset have none. Each model decodes the corpus clips twice, as synthesized and with every sample before
the supervision's ``speech_start`` removed (speech from the first sample), and the FSDD recordings as they are (real
people, 8 kHz, cut close to the onset; evaluation only). Native recognizer, modified beam search, beam 4, the
runtime's default blank penalty, one thread. A ``--model`` is a model file, or a training checkpoint exported to
int8 once (``LABEL=CHECKPOINT:int4[:SPARSITY]`` for other weights; cached like bench/compression.py's
exports). Writes bench/results/onset[-SPLIT].{json,md}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread: before numpy or torch start their pools

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from compression import (DEFAULT_EXPORTS, DEFAULT_FSDD, RESULTS, Row, export_row, parse_qat,  # noqa: E402
                         read_fsdd, read_test, sha256_file, stage_checkpoint)
from e2e import BenchError, machine_info, normalize  # noqa: E402
from endpoint import RATE, quietest_background, reflected  # noqa: E402

from edgeasr.recognizer import Recognizer, RecognizerConfig, default_lm_path, default_model_path  # noqa: E402

WEIGHTS = ("int8", "int4")


def model_file(spec: str, cache: Path) -> tuple[str, Path, dict]:
    """--model LABEL=PATH[:int8|int4[:SPARSITY]] -> (label, model file, where it came from)."""
    label, sep, rest = spec.partition("=")
    if not sep or not label or not rest:
        raise BenchError(f"--model {spec!r}: expected LABEL=PATH[:int8|int4[:SPARSITY]]")
    path, weights, sparsity = rest, "int8", 0.0
    # With weights given, the spec is bench/compression.py's --qat form (a missing sparsity is 0).
    parts = rest.rsplit(":", 2)
    if parts[-1] in WEIGHTS:
        full = spec + ":0"
    elif len(parts) == 3 and parts[1] in WEIGHTS:
        full = spec
    else:
        full = None
    if full is not None:
        try:
            label, path, weights, sparsity = parse_qat(full)
        except argparse.ArgumentTypeError as e:
            raise BenchError(str(e).replace("--qat", "--model")) from None
    p = Path(path).expanduser()
    if not p.is_file():
        raise BenchError(f"--model {spec!r}: no such file")
    if p.suffix == ".safetensors":
        if full is not None:
            raise BenchError(f"--model {spec!r}: weights and sparsity are for checkpoints; a model file has its own")
        return label, p, {"file": str(p)}
    row = Row(key=label, label=label, kind="qat" if sparsity else "float", weights=weights, sparsity=sparsity,
              checkpoint=p)
    row.model = stage_checkpoint(p, cache)
    export_row(row)
    return label, row.file, {"checkpoint": str(p), "sha256": row.model["sha256"], "step": row.model["step"],
                             "epoch": row.model["epoch"], "weights": weights, "sparsity": sparsity}


def check_speech_starts(clips: list[dict], corpus: str, split: str) -> None:
    missing = [c["uid"] for c in clips if c["speech_start"] is None]
    if missing:
        raise BenchError(f"corpus {corpus}/{split}: {len(missing)} supervisions have no speech_start (e.g. "
                         f"{missing[0]}); the lead cut needs the synthesized corpus's speech bounds")


def own_background(c: dict, seconds: float) -> np.ndarray:
    """``seconds`` of the clip's own background, as bench/endpoint.py extends its clips: the quietest 100 ms of its
    non-speech, reflected."""
    if c["rate"] != RATE:
        raise BenchError(f"{c['uid']}: {c['rate']} Hz; expected {RATE}")
    return reflected(quietest_background(c["samples"], c["speech_start"], c["speech_end"]), int(seconds * RATE))


def conditions(clips: list[dict], longer_lead_s: float) -> dict[str, list[np.ndarray]]:
    """Each clip's audio per condition, made once for every model: as synthesized, with the leading silence cut,
    and (``longer_lead_s`` > 0) with that many seconds more of its own background first (``own_background``;
    speech that starts later than the corpus's 50-300 ms)."""
    audio = {"as_synthesized": [c["samples"] for c in clips],
             "lead_cut": [c["samples"][int(c["speech_start"] * c["rate"]):] for c in clips]}
    if longer_lead_s > 0:
        audio["longer_lead"] = [np.concatenate([own_background(c, longer_lead_s), c["samples"]]) for c in clips]
    return audio


def wer(rec: Recognizer, clips: list[dict], audio: list[np.ndarray]) -> dict:
    """WER of ``rec`` on ``audio`` (one array per clip) against the clips' texts."""
    import jiwer

    refs, hyps = [], []
    for c, x in zip(clips, audio):
        hyps.append(normalize(rec.transcribe(x, c["rate"]).result().text))
        refs.append(normalize(c["text"]))
    out = jiwer.process_words(refs, hyps)
    return {"wer": out.wer, "substitutions": out.substitutions, "deletions": out.deletions,
            "insertions": out.insertions, "words": sum(len(r.split()) for r in refs)}


def fsdd_accuracy(rec: Recognizer, clips: list[dict], lead_s: float = 0.0) -> float:
    """edgeasr evaluate --fsdd's rule (the transcript is the digit's word), with ``lead_s`` seconds of digital
    silence put before each clip."""
    right = 0
    for c in clips:
        x = np.concatenate([np.zeros(int(lead_s * c["rate"]), np.float32), c["samples"]])
        right += rec.transcribe(x, c["rate"]).result().text.strip() == c["text"]
    return right / len(clips)


def markdown(report: dict) -> str:
    run = report["run"]
    lines = [
        f"# Speech that starts at once ({run['date'][:10]})", "",
        f"`{run['command']}`; {run['clips']} clips of corpus {run['corpus']}/{run['split']} (all voices, evenly), "
        f"{run['fsdd_clips']} FSDD clips; native beam {run['beam']}, blank penalty {run['blank_penalty']:g}, "
        f"token reward {run['token_reward']:g}"
        + (f", n-gram LM `{run['lm']}` at scale {run['lm_scale']:g}" if run.get("lm") else "") + "; "
        f"{report['machine']['cpu']}; git {report['machine']['git']}.", "",
        "As synthesized: 50-300 ms of silence (plus a margin) before the speech. Lead cut: every sample before the "
        "supervision's speech start removed. Longer lead: the quietest 100 ms of the clip's background, reflected, "
        "before it. FSDD: real recordings, cut close to the onset.", "",
    ]
    longer, lead = run["longer_lead_s"], run["fsdd_lead_s"]
    columns = (["WER as synthesized", "WER, lead cut", "×", "deletions as synthesized / lead cut"]
               + ([f"WER, {longer:g} s more background first", "×, longer lead"] if longer else [])
               + ["FSDD accuracy"] + ([f"FSDD, {lead:g} s of digital silence first"] if lead else []))
    lines += ["| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for m in report["models"]:
        a, b = m["as_synthesized"], m["lead_cut"]
        cells = [f"{m[k]:.1%}" if m.get(k) is not None else "-"
                 for k in ("fsdd_accuracy",) + (("fsdd_accuracy_with_lead",) if lead else ())]
        if longer:
            cells = [f"{m['longer_lead']['wer']:.1%}", f"{m['longer_lead']['wer'] / a['wer']:.2f}"] + cells
        lines.append(f"| {m['label']} | {a['wer']:.1%} | {b['wer']:.1%} | {b['wer'] / a['wer']:.2f} | "
                     f"{a['deletions']} / {b['deletions']} | " + " | ".join(cells) + " |")
    if report.get("padding_choice"):
        lines += ["", "Lead padding (`RecognizerConfig.lead_padding_s`: the stream starts from the encoder state that "
                  "this much digital silence leaves). The rule, fixed before the sweep: per model, the lowest mean of "
                  "the WER as synthesized and with the lead cut, and the shortest padding within "
                  f"{PADDING_TIE * 100:g} points of it: "
                  + "; ".join(f"{m}: **{p:g} s**" for m, p in report["padding_choice"].items()) + "."]
    return "\n".join(lines) + "\n"


def _seconds_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds, got {text!r}") from None
    if not values or any(not 0 <= v <= 10 for v in values):
        raise argparse.ArgumentTypeError(f"seconds in [0, 10], got {text!r}")
    return values


# The rule that chose RecognizerConfig's lead padding, fixed before the sweep: per model, the lowest mean of the WER as
# synthesized and with the lead cut (the rule that chose run v5), the shortest padding within 0.1 points of it.
PADDING_TIE = 0.001


def padding_choice(rows: list[dict]) -> dict[str, float]:
    """{model label: the lead padding the rule picks} over rows of several paddings."""
    by_model: dict[str, list[dict]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    picks = {}
    for label, rs in by_model.items():
        mean = {r["lead_padding_s"]: (r["as_synthesized"]["wer"] + r["lead_cut"]["wer"]) / 2 for r in rs}
        best = min(mean.values())
        picks[label] = min(p for p, m in mean.items() if m <= best + PADDING_TIE)
    return picks


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=[], metavar="LABEL=PATH",
                   help="a model file, or a training checkpoint exported as int8 (PATH:int4[:SPARSITY] for other "
                   "weights) (repeatable; default: the shipped default model)")
    p.add_argument("--corpus", default="v1")
    p.add_argument("--split", default="dev", help="dev by default: held-out voices are for measuring only")
    p.add_argument("--limit", type=int, default=0, help="clips, evenly over the voices (0: all)")
    p.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    p.add_argument("--no-fsdd", action="store_true")
    p.add_argument("--fsdd-lead-s", type=float, default=0.0,
                   help="also FSDD with this much digital silence before each clip (0: not measured)")
    p.add_argument("--longer-lead-s", type=float, default=0.0,
                   help="also the clips with this much more of their own background before them (0: not measured)")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--lm", nargs="?", const=str(default_lm_path()), default=None, metavar="FILE",
                   help="fuse this n-gram LM (without FILE: the bundled one) into every model's search, with the "
                   "search's settings for the LM (the recognizer's defaults are --beam 16 --lm)")
    p.add_argument("--lead-padding-s", type=_seconds_list, default=None, metavar="S[,S...]",
                   help="RecognizerConfig.lead_padding_s values, each model decoded with each (default: the "
                   "runtime's); the report names the one the padding rule picks")
    p.add_argument("--cache", type=Path, default=DEFAULT_EXPORTS)
    p.add_argument("--out", type=Path, help="output stem (default bench/results/onset, onset-test for --split test)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    t0 = time.perf_counter()
    try:
        models = [model_file(s, a.cache) for s in a.model] or [("shipped default", default_model_path(),
                                                                  {"file": str(default_model_path())})]
        clips = read_test(a.corpus, a.split, a.limit)
        check_speech_starts(clips, a.corpus, a.split)
        fsdd = [] if a.no_fsdd else read_fsdd(a.fsdd, 0)
        audio = conditions(clips, a.longer_lead_s)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = RecognizerConfig(decoding="modified_beam_search", beam=a.beam).resolved(with_lm=a.lm is not None)
    paddings = a.lead_padding_s or [config.lead_padding_s]
    rows = []
    for (label, path, source), padding in ((m, p) for m in models for p in paddings):
        rec = Recognizer(path, dataclasses.replace(config, lead_padding_s=padding), lm=a.lm)
        row_label = label if a.lead_padding_s is None else f"{label}, lead padding {padding:g} s"
        row = {"label": row_label, "model": label, "lead_padding_s": padding, "file": str(path),
               "file_sha256": sha256_file(path), **source,
               "as_synthesized": wer(rec, clips, audio["as_synthesized"]),
               "lead_cut": wer(rec, clips, audio["lead_cut"]),
               "longer_lead": wer(rec, clips, audio["longer_lead"]) if "longer_lead" in audio else None,
               "fsdd_accuracy": fsdd_accuracy(rec, fsdd) if fsdd else None,
               "fsdd_accuracy_with_lead": fsdd_accuracy(rec, fsdd, a.fsdd_lead_s) if fsdd and a.fsdd_lead_s else None}
        print(f"  {row_label}: WER {row['as_synthesized']['wer']:.2%} as synthesized, {row['lead_cut']['wer']:.2%} "
              f"lead cut" + (f", {row['longer_lead']['wer']:.2%} with {a.longer_lead_s:g} s more background"
                             if row["longer_lead"] else "")
              + (f", FSDD {row['fsdd_accuracy']:.1%}" if fsdd else "")
              + (f", FSDD with {a.fsdd_lead_s:g} s of silence first {row['fsdd_accuracy_with_lead']:.1%}"
                 if row["fsdd_accuracy_with_lead"] is not None else ""), file=sys.stderr, flush=True)
        rows.append(row)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    report = {"run": {"command": "python bench/onset.py" + (" " + shlex.join(argv_used) if argv_used else ""),
                      "corpus": a.corpus, "split": a.split, "clips": len(clips), "fsdd_clips": len(fsdd),
                      "beam": a.beam, "lm": a.lm, "lm_scale": config.lm_scale if a.lm else None,
                      "blank_penalty": config.blank_penalty,
                      "token_reward": config.token_reward, "fsdd_lead_s": a.fsdd_lead_s,
                      "longer_lead_s": a.longer_lead_s,
                      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      "wall_s": time.perf_counter() - t0},
              "machine": machine_info(), "models": rows,
              "padding_choice": padding_choice(rows) if a.lead_padding_s and len(paddings) > 1 else None}
    out = a.out or RESULTS / ("onset" if a.split == "dev" else f"onset-{a.split}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(f"wrote {out}.{{json,md}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
