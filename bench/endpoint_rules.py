"""Why the final end-pointer waits: for each rule that fired in a bench/endpoint.py run, how its clips' words look to
the sentence-completeness table, as recognized and as spoken.

The complete rule fires after a short trailing silence only when P(end | last words) reaches the threshold; the
others wait longer. This reads the per-clip results of a bench/endpoint.py report (the recognized text, the rule that
fired) and the corpus's reference texts, and asks the same table (the report's) how many of each rule's clips would
look complete with the words as spoken: when even those look incomplete, better recognition would not shorten the
wait, the words themselves do not tell the end (numbers and names can go on).

Usage: python bench/endpoint_rules.py [--report bench/results/endpoint.json] [--max-pause 0.5]
Writes bench/results/endpoint_rules.{json,md} (--stem renames them).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import defaultdict
from pathlib import Path

from edgeasr.endpoint.completeness import CompletenessModel
from edgeasr.train.corpus import load_cuts

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--report", type=Path, default=RESULTS / "endpoint.json")
    p.add_argument("--corpus", default="v1")
    p.add_argument("--split", default="test")
    p.add_argument("--max-pause", type=float, default=0.5, help="clips whose internal pauses are at most this long")
    p.add_argument("--examples", type=int, default=8, help="examples per rule in the report")
    p.add_argument("--stem", default="endpoint_rules")
    a = p.parse_args(argv)

    report = json.loads(a.report.read_text(encoding="utf-8"))
    table = CompletenessModel(report["completeness"]["path"])
    threshold = report["configs"]["final"]["complete_threshold"]
    refs = {cut.id: cut.supervisions[0].text for cut in load_cuts(a.corpus, a.split)}
    by_rule: dict[str, list] = defaultdict(list)
    for c in report["edgeasr_clips"]:
        if c["max_pause"] > a.max_pause or c.get("rule") is None:
            continue
        ref = refs[c["uid"]]
        by_rule[c["rule"]].append({"uid": c["uid"], "text": c["text"], "reference": ref,
                                   "p_end_recognized": table.p_end(c["text"].split()),
                                   "p_end_reference": table.p_end(ref.split()), "exact": c["text"] == ref})
    rows = []
    for rule, clips in sorted(by_rule.items(), key=lambda kv: -len(kv[1])):
        n = len(clips)
        rows.append({"rule": rule, "clips": n,
                     "recognized_looks_complete": sum(x["p_end_recognized"] >= threshold for x in clips) / n,
                     "reference_looks_complete": sum(x["p_end_reference"] >= threshold for x in clips) / n,
                     "recognized_exactly": sum(x["exact"] for x in clips) / n,
                     "examples": clips[:: max(1, n // a.examples)][: a.examples]})
    out = {"report": str(a.report), "report_command": report.get("command"), "threshold": threshold,
           "max_pause_s": a.max_pause, "rows": rows,
           "command": "python " + " ".join(shlex.quote(x) for x in sys.argv)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{a.stem}.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    total = sum(r["clips"] for r in rows)
    lines = [f"# Which rule ended each utterance, and how its words look to the completeness table", "",
             f"Command: `{out['command']}`, on `{a.report}` (made by `{report.get('command')}`); clips with pauses "
             f"<= {a.max_pause * 1000:.0f} ms ({total}); looks complete: P(end | last words) >= {threshold} (the "
             "final end-pointer's threshold), with the words as recognized and as spoken.", "",
             "| rule | clips | share | looks complete as recognized | as spoken | recognized exactly |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['rule']} | {r['clips']} | {r['clips'] / total:.0%} | {r['recognized_looks_complete']:.0%}"
                     f" | {r['reference_looks_complete']:.0%} | {r['recognized_exactly']:.0%} |")
    for r in rows:
        lines += ["", f"Examples, rule {r['rule']} (P(end) recognized / spoken):", ""]
        lines += [f"- {x['p_end_recognized']:.2f} / {x['p_end_reference']:.2f}: \"{x['text']}\" (spoken: "
                  f"\"{x['reference']}\")" for x in r["examples"]]
    (RESULTS / f"{a.stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
