"""Decodes held-out clips under several searches and writes everything each decode gives (text, score, the 8-best
list, the lattice's arcs with their scores and posteriors) to JSON; ``--compare`` reports the decodes of two such
files that differ. For changes that must not change results (kernels, search internals, compiler flags): run it on
the build before the change and on the build after, then compare.

    python bench/search_parity.py --out /tmp/before.json           # on the build before the change
    python bench/search_parity.py --out /tmp/after.json            # on the build after it
    python bench/search_parity.py --compare /tmp/before.json /tmp/after.json

Searches: beam 1 (greedy's choices), beam 4 and 16 with and without the bundled n-gram LM, beam 16 with the LM and
biasing phrases, beam 8 with a grammar: the bundled model's default settings otherwise. Clips: ``--limit`` of corpus
v1/test, evenly over the voices (bench/e2e.py's choice).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

PHRASES = ["siobhan oyelaran", "mum", "kitchen lights", "john smith", "bedroom lamp"]
GRAMMAR = ["computer stop", "computer call mum", "computer turn on the kitchen lights", "stop", "play music"]


def searches() -> dict:
    """name -> (recognizer, transcribe keywords); the phrases' graph and the grammar are built once, as an
    application keeps them, not per clip."""
    from edgeasr.recognizer import Recognizer, RecognizerConfig

    beam16, beam8 = Recognizer(config=RecognizerConfig(beam=16)), Recognizer(config=RecognizerConfig(beam=8))
    return {"beam1": (Recognizer(config=RecognizerConfig(beam=1), lm=None), {}),
            "beam4": (Recognizer(config=RecognizerConfig(beam=4), lm=None), {}),
            "beam4-lm": (Recognizer(config=RecognizerConfig(beam=4)), {}),
            "beam16": (Recognizer(config=RecognizerConfig(beam=16), lm=None), {}),
            "beam16-lm": (beam16, {}),
            "beam16-lm-phrases": (beam16, {"context": beam16.context_graph(PHRASES)}),
            "beam8-grammar": (beam8, {"grammar": beam8.grammar(GRAMMAR)})}


def dump(limit: int, out: Path) -> int:
    import soundfile as sf

    import e2e

    clips = e2e.even_over_voices(e2e.load_clips("v1", "test"), limit)
    decodes = {}
    systems = searches()
    for clip in clips:
        samples, rate = sf.read(clip["path"], dtype="float32")
        for name, (rec, options) in systems.items():
            stream = rec.transcribe(samples, rate, **options)
            result = stream.result()
            decodes[f"{clip['uid']} {name}"] = {
                "text": result.text, "score": result.score, "timestamps": result.timestamps,
                "nbest": [[h.text, h.score] for h in stream.nbest(8)],
                "arcs": [[a.src, a.dst, a.word, a.start, a.end, a.acoustic, a.bias, a.posterior]
                         for a in stream.lattice().arcs]}
    out.write_text(json.dumps({"clips": len(clips), "searches": list(systems), "decodes": decodes}),
                   encoding="utf-8")
    print(f"wrote {out}: {len(clips)} clips x {len(systems)} searches", file=sys.stderr)
    return 0


def compare(a: Path, b: Path) -> int:
    left, right = (json.loads(p.read_text(encoding="utf-8"))["decodes"] for p in (a, b))
    if left.keys() != right.keys():
        print(f"different decodes: {len(left.keys() ^ right.keys())} keys in one file only", file=sys.stderr)
        return 1
    differ = [k for k in left if left[k] != right[k]]
    texts = sum(left[k]["text"] != right[k]["text"] for k in differ)
    print(f"{len(left)} decodes: {len(left) - len(differ)} identical, {len(differ)} differ ({texts} in the text)")
    for k in differ[:10]:
        print(f"  {k}: {left[k]['text']!r} ({left[k]['score']}) / {right[k]['text']!r} ({right[k]['score']})")
    return 1 if differ else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="write the decodes here")
    p.add_argument("--limit", type=int, default=150, help="clips of v1/test, evenly over the voices (default 150)")
    p.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"), help="two --out files: which decodes differ")
    a = p.parse_args(argv)
    if (a.out is None) == (a.compare is None):
        p.error("give --out FILE or --compare A B")
    if a.limit < 1:
        p.error(f"--limit: expected >= 1, got {a.limit}")
    return compare(*a.compare) if a.compare else dump(a.limit, a.out)


if __name__ == "__main__":
    sys.exit(main())
