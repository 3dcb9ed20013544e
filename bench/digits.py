"""Spoken digits from real people (FSDD), each system as a fair user would set it up, side by side in one run.

    python bench/digits.py               # all 3,000 clips: bench/results/digits.{json,md}
    python bench/digits.py --limit 300   # 300 clips, evenly spaced: bench/results/digits-limit300.*

A user who only needs digits gives the recognizer a grammar. PocketSphinx 5.1.1 gets a JSGF grammar of the eleven
words (the ten digits and "oh") and, for reference, its default large-vocabulary LM (bench/peers_accuracy.py's
searches, its resampling to 16 kHz); edgeasr gets the same eleven words as a grammar
(``Recognizer.grammar``: only those phrases, or nothing, may be transcribed) and, for reference, its open
vocabulary, also with its bundled n-gram LM (as PocketSphinx's default LM), each with the runtime's defaults and
with ``lead_padding_s`` (the stream starts from the encoder state that silence leaves: FSDD clips are cut at the
speech onset, bench/results/onset-lead-padding.md). edgeasr takes the 8 kHz audio as it is and resamples it
itself. A clip is right when the only word recognized is its digit ("oh" counts as "zero"). FSDD is evaluation
data: nothing here is tuned on it.

Real-time factors: decoding time over audio time, one thread (edgeasr: ``transcribe`` with its resampling and
front end; PocketSphinx: its front end and search after the resampling).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread: before numpy or torch start their pools

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

from peers_accuracy import (DEFAULT_FSDD, DIGIT_GRAMMAR, GRAMMAR_WORDS, REPO, BenchError, Sphinx,  # noqa: E402
                            _bar, _digit_of, even_subsample, fsdd_clips, machine_info, normalize, run_fsdd,
                            summarize_fsdd, write_report)

from edgeasr.recognizer import Recognizer, RecognizerConfig, default_lm_path, default_model_path  # noqa: E402

# The lead padding of the option rows: the shortest of bench/onset.py's sweep (0.1-0.5 s gave FSDD 34-36 % open
# vocabulary there; the dev rule kept the default at 0, onset-lead-padding.md).
OPTION_LEAD_PADDING_S = 0.1


def edgeasr_systems(model: Path, lead_padding_s: float, lm: Path) -> dict[str, tuple[Recognizer, Optional[object]]]:
    """name -> (recognizer, grammar or None): open vocabulary and the digit grammar, each without and with the n-gram
    LM ``lm`` (as PocketSphinx's default LM; the bundled model's default), and the grammar that requires a digit (the
    empty transcript not allowed, as PocketSphinx's JSGF grammar has none), at the default lead padding and at
    ``lead_padding_s``."""
    systems = {}
    for padding in (RecognizerConfig().lead_padding_s, lead_padding_s):
        rec = Recognizer(model, RecognizerConfig(lead_padding_s=padding), lm=None)
        with_lm = Recognizer(model, RecognizerConfig(lead_padding_s=padding), lm=lm)
        suffix = "" if padding == RecognizerConfig().lead_padding_s else f", lead padding {padding:g} s"
        systems[f"edgeasr open vocabulary{suffix}"] = (rec, None)
        systems[f"edgeasr open vocabulary + n-gram LM{suffix}"] = (with_lm, None)
        systems[f"edgeasr grammar{suffix}"] = (rec, rec.grammar(list(GRAMMAR_WORDS)))
        systems[f"edgeasr grammar + n-gram LM{suffix}"] = (with_lm, with_lm.grammar(list(GRAMMAR_WORDS)))
        systems[f"edgeasr grammar, a digit required{suffix}"] = (
            rec, rec.grammar(list(GRAMMAR_WORDS), allow_empty=False))  # every clip says one (allow_empty=False)
    return systems


def run_edgeasr(rows: list[dict], clips, systems: dict) -> dict:
    """Adds each system's result to the rows (bench/peers_accuracy.py's FSDD rows, same clips in the same order)."""
    import soundfile as sf

    with _bar(len(clips) * len(systems), "edgeasr fsdd") as bar:
        for row, c in zip(rows, clips):
            x, rate = sf.read(str(c.path), dtype="float32", always_2d=True)
            for name, (rec, grammar) in systems.items():
                t0, c0 = time.perf_counter(), time.thread_time()
                # Each system fuses what its recognizer holds: a grammar stream drops the LM unless told to keep it.
                text = rec.transcribe(x[:, 0], rate, grammar=grammar, lm=rec.lm is not None).result().text
                wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
                hyp = normalize(text)
                row[name] = {"hyp": hyp, "raw": text, "right": _digit_of(hyp) == c.text, "wall_s": wall,
                             "cpu_s": cpu}
                bar.update()
    return {name: summarize_fsdd(rows, name) for name in systems}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(report: dict) -> str:
    run, searches = report["run"], report["searches"]
    names = list(searches)
    speakers = list(next(iter(searches.values()))["by_speaker"])
    digits = list(next(iter(searches.values()))["by_digit"])
    lines = [
        f"# Spoken digits: FSDD, real people ({run['date'][:10]})", "",
        f"- Command: `{run['command']}`",
        f"- Clips: {run['clips']} of `{run['fsdd']}` (8 kHz; evaluation only, nothing tuned on it); right when the "
        "only word recognized is the digit (`oh` counts as `zero`).",
        f"- Grammar: the same eleven words for both ({', '.join(GRAMMAR_WORDS)}); PocketSphinx's JSGF "
        f"`{DIGIT_GRAMMAR.splitlines()[-1]}`, edgeasr's `Recognizer.grammar` (one phrase or nothing).",
        f"- edgeasr: `{run['model']}`, modified beam search (beam {run['beam']}), the runtime's defaults; lead "
        "padding: the stream starts from the encoder state that this much silence leaves "
        "(`RecognizerConfig.lead_padding_s`, default 0, [onset-lead-padding.md](onset-lead-padding.md)); "
        f"+ n-gram LM: `{run.get('lm')}` fused at LM_SEARCH_DEFAULTS (`--lm`), as PocketSphinx's default LM.",
        f"- Machine: {report['machine']['cpu']}, {report['machine']['logical_cpus']} logical CPUs; git "
        f"{report['machine']['git']}; took {run['wall_s'] / 60:.1f} min.", "",
        "| system | accuracy | " + " | ".join(speakers) + " | RTF (CPU) |",
        "|---|---:|" + "---:|" * len(speakers) + "---:|",
    ]
    for n in names:
        s = searches[n]
        lines.append(f"| {n} | **{_pct(s['accuracy'])}** | "
                     + " | ".join(_pct(s["by_speaker"][sp]["accuracy"]) for sp in speakers)
                     + f" | {s['rtf']['rtf_cpu']:.4f} |")
    lines += ["", "| system | " + " | ".join(digits) + " |", "|---|" + "---:|" * len(digits)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(_pct(searches[n]["by_digit"][d]["accuracy"]) for d in digits) + " |")
    lines += ["", "Most common errors:", ""]
    for n in names:
        errors = ", ".join(f"{e['ref']} → {e['hyp']} ({e['count']})" for e in searches[n]["most_common_errors"][:6])
        lines.append(f"- {n}: {errors}")
    lines += ["", "Per-clip hypotheses are in the JSON file next to this one."]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD, help=f"FSDD folder (default {DEFAULT_FSDD})")
    p.add_argument("--model", type=Path, default=default_model_path(), help="edgeasr model file (default: bundled)")
    p.add_argument("--lead-padding-s", type=float, default=OPTION_LEAD_PADDING_S,
                   help="lead padding of edgeasr's option rows")
    p.add_argument("--lm", type=Path, default=default_lm_path(),
                   help="n-gram LM of the '+ n-gram LM' rows (default: the bundled one)")
    p.add_argument("--limit", type=int, default=0, help="at most N clips, evenly spaced (0: all)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="output folder")
    a = p.parse_args(argv)
    if a.limit < 0:
        p.error(f"--limit: must be >= 0, got {a.limit}")
    if not 0 < a.lead_padding_s <= 10:
        p.error(f"--lead-padding-s: must be in (0, 10], got {a.lead_padding_s}")
    stem = "digits" + (f"-limit{a.limit}" if a.limit else "")
    t0 = time.perf_counter()
    try:
        clips = even_subsample(fsdd_clips(a.fsdd), a.limit)
        grammar = Sphinx(DIGIT_GRAMMAR)
        missing = [w for w in GRAMMAR_WORDS if grammar.decoder.lookup_word(w) is None]
        if missing:
            raise BenchError(f"digit grammar words missing from PocketSphinx's dictionary: {missing}")
        systems = edgeasr_systems(a.model, a.lead_padding_s, a.lm)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    peer = run_fsdd(clips, {"pocketsphinx grammar": grammar, "pocketsphinx default LM": Sphinx()})
    ours = run_edgeasr(peer["clips"], clips, systems)
    config = dataclasses.asdict(next(iter(systems.values()))[0].config)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    report = {"run": {"command": "python bench/digits.py" + (" " + shlex.join(argv_used) if argv_used else ""),
                      "fsdd": str(a.fsdd), "clips": len(clips), "model": str(a.model), "beam": config["beam"],
                      "edgeasr_config": config, "lead_padding_s": a.lead_padding_s, "lm": str(a.lm),
                      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      "wall_s": time.perf_counter() - t0},
              "machine": machine_info(), "searches": {**peer["searches"], **ours},
              "clips": [{"id": r["id"], "speaker": r["speaker"], "ref": r["ref"], "duration_s": r["duration_s"],
                         "hyp": {name: r[name]["hyp"] for name in (*peer["searches"], *ours)}}
                        for r in peer["clips"]]}
    write_report(report, markdown, a.out, stem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
