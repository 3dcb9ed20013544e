"""Tail padding: how much silence ``Stream.input_finished()`` should feed after audio that stops with the speech.

    python bench/tail_padding.py            # writes bench/results/tail_padding.{json,md}

A transducer emits a token some frames after it hears it. Audio that ends where the speech ends (a push-to-talk
button let go at once, clips trimmed to the speech, FSDD's recordings) would lose its last word without a few more
frames; sherpa-onnx's examples append 0.66 s of zeros for the same reason. Every clip of each corpus split here is cut
at its supervision's speech end, then decoded with each padding (``RecognizerConfig.tail_padding_s``).

The rule: the default is the shortest padding whose WER is within 0.1 points of the best
padding's on every ``--choose`` split (dev splits only). ``--measure`` splits (held-out voices) and FSDD (real
speech) are measured with every padding and steer nothing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from compression import DEFAULT_FSDD, RESULTS, read_fsdd, read_test  # noqa: E402
from e2e import BenchError, machine_info  # noqa: E402
from onset import fsdd_accuracy, wer  # noqa: E402

from edgeasr.recognizer import Recognizer, RecognizerConfig, default_model_path  # noqa: E402

WITHIN_POINTS = 0.1  # the rule's tolerance, in WER percentage points


def cut_at_speech_end(clips: list[dict], name: str) -> list:
    missing = [c["uid"] for c in clips if c.get("speech_end") is None]
    if missing:
        raise BenchError(f"{name}: {len(missing)} supervisions have no speech_end (e.g. {missing[0]})")
    return [c["samples"][: int(round(c["speech_end"] * c["rate"]))] for c in clips]


def choose(results: dict[str, dict[str, dict]], paddings: list[float], splits: list[str]) -> float:
    """The shortest padding within WITHIN_POINTS of the best on every split in ``splits``."""
    for p in sorted(paddings):
        if all(100 * results[s][str(p)]["wer"] <= 100 * min(results[s][str(q)]["wer"] for q in paddings)
               + WITHIN_POINTS for s in splits):
            return p
    raise AssertionError("unreachable: the best padding always qualifies")


def markdown(report: dict) -> str:
    run = report["run"]
    paddings = run["paddings"]
    lines = [f"# Tail padding ({run['date'][:10]})", "",
             f"`{run['command']}`; model `{run['model']}`; native beam {run['beam']}, token reward "
             f"{run['token_reward']:g}, blank penalty {run['blank_penalty']:g}; every clip cut at its speech end; "
             f"{report['machine']['cpu']}; git {report['machine']['git']}.", "",
             f"Rule: the shortest padding within {WITHIN_POINTS:g} WER points of the best on "
             f"every dev split ({', '.join(run['choose'])}). **Chosen: {report['chosen']:g} s.** Held-out voices and "
             "FSDD are measured only.", "",
             "| split | clips | " + " | ".join(f"{p:g} s" for p in paddings) + " |",
             "|---|---:|" + "---:|" * len(paddings)]
    for split, per in report["results"].items():
        role = " (choose)" if split in run["choose"] else " (measure)"
        if split == "fsdd":
            cells = [f"{per[str(p)]['accuracy']:.1%} acc." for p in paddings]
        else:
            cells = [f"{per[str(p)]['wer']:.2%} (D {per[str(p)]['deletions']})" for p in paddings]
        lines.append(f"| {split}{role} | {next(iter(per.values()))['clips']} | " + " | ".join(cells) + " |")
    lines += ["", "WER (deletions) per padding; FSDD: digit accuracy (the transcript is the digit's word)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--choose", action="append", default=None, metavar="CORPUS:SPLIT",
                   help="dev splits the rule reads (default v1:dev and v1hard:dev)")
    p.add_argument("--measure", action="append", default=None, metavar="CORPUS:SPLIT",
                   help="splits measured only (default v1:test, the held-out voices)")
    p.add_argument("--paddings", default="0,0.1,0.2,0.3,0.5", help="seconds, comma-separated")
    p.add_argument("--model", type=Path, default=default_model_path())
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    p.add_argument("--no-fsdd", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "tail_padding")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    chosen_splits = a.choose or ["v1:dev", "v1hard:dev"]
    measured = a.measure if a.measure is not None else ["v1:test"]
    paddings = sorted({float(x) for x in a.paddings.split(",")})
    try:
        sets = {}
        for spec in chosen_splits + measured:
            corpus, _, split = spec.partition(":")
            clips = read_test(corpus, split, 0)
            sets[spec] = (clips, cut_at_speech_end(clips, spec))
        fsdd = [] if a.no_fsdd else read_fsdd(a.fsdd, 0)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = RecognizerConfig(decoding="modified_beam_search", beam=a.beam).resolved()
    results: dict[str, dict[str, dict]] = {s: {} for s in sets}
    if fsdd:
        results["fsdd"] = {}
    for pad in paddings:
        rec = Recognizer(a.model, dataclasses.replace(base, tail_padding_s=pad))
        for spec, (clips, audio) in sets.items():
            results[spec][str(pad)] = {**wer(rec, clips, audio), "clips": len(clips)}
            print(f"  {pad:g} s: {spec} WER {results[spec][str(pad)]['wer']:.2%}", file=sys.stderr, flush=True)
        if fsdd:
            results["fsdd"][str(pad)] = {"accuracy": fsdd_accuracy(rec, fsdd), "clips": len(fsdd)}
            print(f"  {pad:g} s: FSDD {results['fsdd'][str(pad)]['accuracy']:.1%}", file=sys.stderr, flush=True)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    report = {"run": {"command": "python bench/tail_padding.py" + (" " + shlex.join(argv_used) if argv_used else ""),
                      "model": str(a.model), "beam": a.beam, "blank_penalty": base.blank_penalty,
                      "token_reward": base.token_reward, "paddings": paddings, "choose": chosen_splits,
                      "measure": measured,
                      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      "wall_s": time.perf_counter() - t0},
              "machine": machine_info(), "results": results, "chosen": choose(results, paddings, chosen_splits)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    a.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(f"chosen {report['chosen']:g} s; wrote {a.out}.{{json,md}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
