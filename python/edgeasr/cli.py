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
    from edgeasr.train.evaluate import evaluate_corpus, evaluate_fsdd
    from edgeasr.train.export import load_trained

    model, table = load_trained(args.checkpoint)
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


def _user_errors(run):
    """For commands whose ValueErrors are the user's (a bad file, a bad option): one line on stderr, exit 1."""
    def wrapped(args) -> int:
        try:
            return run(args)
        except ValueError as e:
            print(f"edgeasr {args.command}: error: {e}", file=sys.stderr)
            return 1
    return wrapped


@_user_errors
def _info(args) -> int:
    from edgeasr.model_file import load_model

    d = load_model(args.model).describe()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    a, f, t = d["architecture"], d["features"], d["totals"]
    print(f"{d['path']}" + (f"  ({d['source']})" if d["source"] else ""))
    print(f"architecture  {a['type']}: {a['num_layers']} LSTM layers, d_model {a['d_model']}, hidden {a['hidden']}, "
          f"decoder {a['decoder_dim']} (context {a['context_size']}), joiner {a['joiner_dim']}")
    print(f"features      {f['num_bins']} mel bins at {f['sample_rate']} Hz, frame {f['frame_length_ms']} ms, "
          f"shift {f['frame_shift_ms']} ms, subsampling {f['subsampling']} "
          f"(one encoder step per {f['frame_shift_ms'] * f['subsampling']:g} ms)")
    print(f"vocabulary    {d['vocab_size']} tokens (blank id {a['blank_id']})")
    width = max(len(r["name"]) for r in d["tensors"])
    print(f"\n{'tensor':{width}s}  {'format':9s}  {'shape':>13s}  {'nonzeros':>10s}  {'bytes':>10s}")
    for r in d["tensors"]:
        shape = " x ".join(str(n) for n in r["shape"])
        print(f"{r['name']:{width}s}  {r['format']:9s}  {shape:>13s}  {r['nonzeros']:>10d}  {r['bytes']:>10d}")
    print(f"\ntotal         {t['parameters']} parameters, {t['nonzeros']} nonzero "
          f"({t['nonzeros'] / t['parameters']:.1%}), {t['bytes']} bytes of weights, file {t['file_bytes']} bytes")
    return 0


def read_context_file(path: Path) -> list[tuple[str, float]]:
    """Biasing phrases, one per line: ``phrase`` or ``phrase<TAB>weight``; blank lines and ``#`` comments skipped."""
    phrases = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        text, _, weight = line.partition("\t")
        try:
            phrases.append((text.strip(), float(weight) if weight.strip() else 1.0))
        except ValueError:
            raise ValueError(f"{path}:{n}: weight {weight.strip()!r} is not a number") from None
    return phrases


def lattice_paths(option: str, value: Optional[Path], audio: list[Path]) -> dict[Path, Path]:
    """Where ``--lattice-*`` writes each file's lattice: ``value`` itself for one audio file; for several,
    ``value``'s name with the audio file's stem inserted (``out.png`` -> ``out.clip1.png``)."""
    if value is None:
        return {}
    if len(audio) == 1:
        return {audio[0]: value}
    stems = [a.stem for a in audio]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise ValueError(f"{option}: several audio files are named {dup!r}, so their lattice files would collide; "
                         "transcribe them separately")
    return {a: value.with_name(f"{value.stem}.{a.stem}{value.suffix}") for a in audio}


def write_lattice(lattice, png: Optional[Path], json_path: Optional[Path], fst: Optional[Path]) -> None:
    """The --lattice-png/--lattice-json/--lattice-fst outputs of one file (the FST's words.txt goes beside it)."""
    try:
        if json_path:
            json_path.write_text(lattice.to_json(indent=1), encoding="utf-8")
        if fst:
            fst.write_text(lattice.to_openfst_text(), encoding="utf-8")
            fst.with_name(f"{fst.stem}.words.txt").write_text(lattice.openfst_symbols(), encoding="utf-8")
        if png:
            lattice.render(png)
    except OSError as e:
        raise ValueError(f"{e.filename}: cannot write the lattice ({e.strerror})") from None
    except RuntimeError as e:  # graphviz or dot missing: the user's installation, reported as such
        raise ValueError(f"--lattice-png: {e}") from None


@_user_errors
def _transcribe(args) -> int:
    from edgeasr.audio import load_audio
    from edgeasr.recognizer import Recognizer, RecognizerConfig

    lattice_outputs = [lattice_paths(f"--lattice-{kind}", getattr(args, f"lattice_{kind}"), args.audio)
                       for kind in ("png", "json", "fst")]
    if args.lattice_png and args.lattice_png.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"--lattice-png: expected a file name ending in .png, .svg or .pdf, got {args.lattice_png}")
    config = RecognizerConfig(decoding="greedy_search" if args.greedy else "modified_beam_search", beam=args.beam,
                              context_score=args.context_score)
    rec = Recognizer(args.model, config)
    context = rec.context_graph(read_context_file(args.context)) if args.context else None
    for path in args.audio:
        samples, rate = load_audio(path)  # ValueError naming the file when it cannot be read
        stream = rec.transcribe(samples, rate, context)
        result = stream.result()
        if any(lattice_outputs):
            write_lattice(stream.lattice(), *(out.get(path) for out in lattice_outputs))
        if not args.json:
            print(result.text if len(args.audio) == 1 else f"{path}\t{result.text}")
            continue
        record = {"file": str(path), "text": result.text,
                  "words": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                             "confidence": round(w.confidence, 4)} for w in result.words],
                  "nbest": [{"text": h.text, "score": round(h.score, 4)} for h in stream.nbest(args.nbest)],
                  "duration": round(samples.size / rate, 3)}
        print(json.dumps(record))
    return 0


@_user_errors
def _export(args) -> int:
    from edgeasr.train.export import export_model

    out = export_model(args.checkpoint, args.out, weights=args.weights, sparsity=args.sparsity,
                       bpe_model=args.bpe_model)
    print(f"wrote {out}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="edgeasr", description="On-device speech recognition: transcription, model "
                                                             "files and training tools.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("transcribe", help="transcribe audio files with a model (default: the bundled one)")
    r.add_argument("audio", nargs="+", type=Path, help="audio files (WAV, FLAC, ...; any sample rate, mono)")
    r.add_argument("--model", type=Path, default=None, help="model file (default: the bundled student, int8)")
    r.add_argument("--context", type=Path, default=None,
                   help="biasing phrases, one per line (phrase, or phrase<TAB>weight): contacts, device names")
    r.add_argument("--context-score", type=float, default=1.5, help="biasing bonus per matched token (default 1.5)")
    r.add_argument("--beam", type=int, default=4, help="modified beam search width (default 4)")
    r.add_argument("--greedy", action="store_true", help="greedy search instead of beam search")
    r.add_argument("--nbest", type=int, default=4, help="hypotheses in --json output (default 4)")
    r.add_argument("--json", action="store_true",
                   help="one JSON object per file: text, words (word, start, end, confidence), nbest (text, score)")
    r.add_argument("--lattice-png", type=Path, default=None,
                   help="draw each file's word lattice (best path in red) to this .png/.svg/.pdf (needs the lattice "
                        "extra and Graphviz); with several files, out.png becomes out.<audio name>.png")
    r.add_argument("--lattice-json", type=Path, default=None, help="write each file's lattice as JSON (same naming)")
    r.add_argument("--lattice-fst", type=Path, default=None,
                   help="write each file's lattice in OpenFST text format, with <name>.words.txt beside it")
    r.set_defaults(run=_transcribe)
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
    i = sub.add_parser("info", help="what a model file holds: architecture, features, tensors, sizes")
    i.add_argument("model", type=Path)
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(run=_info)
    x = sub.add_parser("export", help="a training checkpoint (or fp16 export) to a model file (needs the train extra)")
    x.add_argument("checkpoint", type=Path, help="training checkpoint (.pt) or edgeasr.train.export file")
    x.add_argument("out", type=Path, help="model file to write")
    x.add_argument("--weights", choices=["int8", "int4", "float32"], default="int8",
                   help="storage of the matrices (default int8)")
    x.add_argument("--sparsity", type=float, default=0.0,
                   help="fraction of each matrix's smallest weights to drop; > 0 stores them sparse (default 0)")
    x.add_argument("--bpe-model", type=Path, default=None,
                   help="sentencepiece model whose piece scores go into the token table, when the checkpoint lacks "
                        "them (default: bpe.model beside the checkpoint)")
    x.set_defaults(run=_export)
    c = sub.add_parser("corpus", help="build a synthesized corpus (python -m edgeasr.train.corpus --help)")
    c.add_argument("rest", nargs=argparse.REMAINDER)
    c.set_defaults(run=_corpus)
    args = p.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
