"""The ``edgeasr`` command. Training subcommands import torch only when they run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional


def _train(args) -> int:
    from edgeasr.train.train import main as train_main

    return train_main(["--config", str(args.config)])


def _evaluate(args) -> int:
    from edgeasr.train.evaluate import evaluate_corpus, evaluate_fsdd, load_run_model

    model, table = load_run_model(args.checkpoint)
    report: dict = {"checkpoint": str(args.checkpoint)}
    if args.corpus:
        report["corpus"] = {"name": args.corpus, "split": args.split,
                            "wer": evaluate_corpus(model, table, args.corpus, args.split, args.limit)}
        for voice, r in report["corpus"]["wer"].items():
            print(f"{args.corpus}/{args.split} {voice:28s} WER {r['wer']:7.2%}  ({r['utterances']} utts, "
                  f"{r['words']} words)")
    if args.fsdd:
        report["fsdd"] = evaluate_fsdd(model, table, args.fsdd, args.limit)
        print(f"FSDD digit accuracy {report['fsdd']['accuracy']:.2%} over {report['fsdd']['clips']} clips; by "
              "speaker: " + ", ".join(f"{s} {a:.0%}" for s, a in report["fsdd"]["by_speaker"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def _corpus(args) -> int:
    from edgeasr.train.corpus import main as corpus_main

    corpus_main(args.rest)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="edgeasr", description="On-device speech recognition: training tools.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an RNN-T (needs the train extra)")
    t.add_argument("--config", required=True, type=Path)
    t.set_defaults(run=_train)
    e = sub.add_parser("evaluate", help="WER per voice on a corpus split, digit accuracy on FSDD")
    e.add_argument("--checkpoint", required=True, type=Path)
    e.add_argument("--corpus", help="built corpus name, e.g. v1")
    e.add_argument("--split", default="test")
    e.add_argument("--fsdd", type=Path, help="folder of FSDD .wav files, e.g. ../shared/data/fsdd")
    e.add_argument("--limit", type=int, default=0, help="evaluate at most this many utterances (0: all)")
    e.add_argument("--json", help="also write the report here")
    e.set_defaults(run=_evaluate)
    c = sub.add_parser("corpus", help="build a synthesized corpus (python -m edgeasr.train.corpus --help)")
    c.add_argument("rest", nargs=argparse.REMAINDER)
    c.set_defaults(run=_corpus)
    args = p.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
