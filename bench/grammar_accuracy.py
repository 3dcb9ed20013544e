"""How often a grammar stream gets the phrase right, with and without the recognizer's n-gram LM: the choice behind
``Recognizer.stream_uses_lm`` (a grammar stream decodes without the LM unless ``lm=True``), measured on a corpus of
rendered phrases (``python -m edgeasr.train.corpus --name NAME --split SPLIT --n N --phrases FILE``).

    python -m edgeasr.train.corpus --name digits --split dev --n 440 --phrases bench/data/digits.txt
    python bench/grammar_accuracy.py --corpus digits --split dev --grammar bench/data/digits.txt
    python bench/grammar_accuracy.py --corpus commands --split dev --grammar bench/data/commands.txt

Each clip is decoded whole (``Recognizer.transcribe``) with the bundled model and LM at the recognizer's defaults:
the grammar without the LM (the default), the grammar with it (``lm=True``), and for reference the open vocabulary
with and without the LM, and the grammar that requires a phrase (``Recognizer.grammar(..., allow_empty=False)``,
without the LM). Right: the transcript is exactly the clip's phrase. Results: bench/results/
grammar-CORPUS-SPLIT.{json,md} (``--name`` renames them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, help="a corpus rendered from --grammar's phrases")
    p.add_argument("--split", default="dev", help="dev: training voices (for choices); test: held-out voices")
    p.add_argument("--grammar", type=Path, required=True, help="the phrases, one per line")
    p.add_argument("--limit", type=int, default=0, help="clips, evenly over the voices (0: all)")
    p.add_argument("--name", default=None, help="results stem (default grammar-CORPUS-SPLIT)")
    a = p.parse_args(argv)
    import soundfile as sf

    import e2e
    from edgeasr.cli import read_grammar_file
    from edgeasr.recognizer import Recognizer

    try:
        clips = e2e.even_over_voices(e2e.load_clips(a.corpus, a.split), a.limit)
        rec = Recognizer()
        phrases = read_grammar_file(a.grammar)
        grammar, required = rec.grammar(phrases), rec.grammar(phrases, allow_empty=False)
    except (e2e.BenchError, ValueError, OSError) as e:
        print(f"grammar_accuracy: error: {e}", file=sys.stderr)
        return 1
    outside = sorted({c["text"] for c in clips} - set(grammar.phrases))
    if outside:
        print(f"grammar_accuracy: error: {len(outside)} clip phrases are not in {a.grammar}, e.g. {outside[0]!r}",
              file=sys.stderr)
        return 1
    systems = {"grammar (the default: without the LM)": {"grammar": grammar},
               "grammar + n-gram LM (lm=True)": {"grammar": grammar, "lm": True},
               "grammar, a phrase required (allow_empty=False)": {"grammar": required},
               "open vocabulary + n-gram LM (the default)": {},
               "open vocabulary without the LM (lm=False)": {"lm": False}}
    right = {name: defaultdict(int) for name in systems}
    counts = defaultdict(int)
    rows = []
    for clip in clips:
        samples, rate = sf.read(clip["path"], dtype="float32")
        counts[clip["voice"]] += 1
        row = {"uid": clip["uid"], "voice": clip["voice"], "ref": clip["text"]}
        for name, options in systems.items():
            text = rec.transcribe(samples, rate, **options).result().text
            row[name] = text
            right[name][clip["voice"]] += text == clip["text"]
        rows.append(row)
    voices = sorted(counts)
    report = {"command": "python bench/grammar_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "corpus": a.corpus, "split": a.split, "grammar": str(a.grammar), "phrases": len(grammar.phrases),
              "clips": len(clips), "beam": rec.config.beam,
              "accuracy": {name: {"all": sum(r.values()) / len(clips), **{v: r[v] / counts[v] for v in voices}}
                           for name, r in right.items()},
              "rows": rows}
    stem = REPO / "bench" / "results" / (a.name or f"grammar-{a.corpus}-{a.split}")
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    lines = [f"# Grammar streams with and without the n-gram LM: {a.corpus}/{a.split}", "",
             f"`{report['command']}` ({report['date']}); {len(clips)} clips of {len(grammar.phrases)} phrases "
             f"(`{a.grammar}`), each decoded whole by the bundled model at beam {rec.config.beam}; right: the "
             "transcript is exactly the clip's phrase.", "",
             "| system | all | " + " | ".join(voices) + " |", "|---|---:|" + "---:|" * len(voices)]
    for name, acc in report["accuracy"].items():
        lines.append(f"| {name} | **{100 * acc['all']:.1f} %** | "
                     + " | ".join(f"{100 * acc[v]:.1f} %" for v in voices) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
