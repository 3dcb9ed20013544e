"""Tunes the beam search's score settings (token_reward, blank_penalty, context_score, lm_scale) on a dev set.

Each grid point is one ``bench/e2e.py`` run of edgeasr's int4 beam search, without and with the clip's biasing
phrases, on the same clips; the table gives WER and its parts, B-WER and false names. The rules, fixed before the
grid runs: token_reward and blank_penalty by the lowest WER without phrases, then the biasing bonus context_score
(at those) by the lowest WER with phrases (the earlier grid point on a tie). Tune on training voices only
(``--corpus v1hard --split dev`` is as hard as the held-out voices); the held-out voices are for measuring.

    python bench/search_tune.py --corpus v1hard --split dev     # the grid below: bench/results/search_tune.*
    python bench/search_tune.py --token-reward 0.8 --blank-penalty 0 --context-score 0.5,0.75,1,1.25 --name N
    python bench/search_tune.py --corpus v1hard --split dev --lm-scale 0,0.1,0.2,0.3 --token-reward 0.9,1.3,1.7 \
        --blank-penalty 0 --beam 4 --name search_tune-lm-beam4    # with the bundled n-gram LM (0: without it)
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import math
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import e2e  # noqa: E402
from edgeasr.recognizer import context_score_default, default_lm_path  # noqa: E402

SYSTEMS = ("edgeasr-int4-beam", "edgeasr-int4-beam-context")
LM_SYSTEMS = ("edgeasr-int4-beam-lm", "edgeasr-int4-beam-lm-context")


def floats(text: str) -> list[float]:
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers separated by commas, got {text!r}")
    return values


def run_point(a: argparse.Namespace, reward: float, penalty: float, context: float, lm_scale: float, out: Path,
              plain: Optional[dict] = None, ilm_scale: float = 0.0) -> dict:
    """One grid point. ``plain``: the accuracy without phrases at this reward, penalty and LM scale, already measured
    (the biasing bonus does not change it), so only the system with phrases runs. LM scale 0: without the LM."""
    name = f"tune-{reward:g}-{penalty:g}-{context:g}-{lm_scale:g}-{ilm_scale:g}"
    pair = LM_SYSTEMS if lm_scale > 0 else SYSTEMS
    systems = pair if plain is None else pair[1:]
    argv = ["--corpus", a.corpus, "--split", a.split, "--limit", str(a.limit), "--systems", ",".join(systems),
            "--token-reward", str(reward), "--blank-penalty", str(penalty), "--context-score", str(context),
            "--beam", str(a.beam), "--lm", str(a.lm), "--lm-scale", str(lm_scale), "--ilm-scale", str(ilm_scale),
            "--out", str(out), "--name", name]
    if a.lm_no_end:
        argv.append("--lm-no-end")
    if e2e.main(argv) != 0:
        raise RuntimeError(f"bench/e2e.py {shlex.join(argv)} failed")
    report = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    plain = plain or report["systems"][pair[0]]["accuracy"]
    biased = report["systems"][pair[1]]["accuracy"]
    return {"token_reward": reward, "blank_penalty": penalty, "context_score": context, "lm_scale": lm_scale,
            "ilm_scale": ilm_scale, "clips": report["run"]["clips"], "plain": plain,
            "wer": plain["wer"], "deletions": plain["deletions"], "insertions": plain["insertions"],
            "substitutions": plain["substitutions"], "b_wer": plain["b_wer"],
            "wer_phrases": biased["wer"], "b_wer_phrases": biased["b_wer"],
            "false_names_phrases": biased["false_name_phrases"]}


def markdown(result: dict) -> str:
    run, best, context = result["run"], result["chosen"], result["chosen_context"]
    lines = [f"# Beam search score settings on {run['corpus']}/{run['split']}", "",
             f"`{run['command']}` ({run['date']}; {result['points'][0]['clips']} clips; edgeasr int4, beam "
             f"{run.get('beam', 4)}, the bundled model; lm_scale > 0: with the n-gram LM `{run.get('lm')}`"
             + (", the end of sentence unscored" if run.get("lm_end_of_sentence") is False else "") + "; with "
             "phrases: the clip's names and distractors, 100 per clip, as bench/e2e.py).",
             "", "Rule (fixed before the run): the lowest WER without phrases. Chosen: token_reward "
             f"**{best['token_reward']:g}**, blank_penalty **{best['blank_penalty']:g}**, lm_scale "
             f"**{best.get('lm_scale', 0):g}**, ilm_scale **{best.get('ilm_scale', 0):g}**; then the lowest WER with "
             f"phrases at those: context_score **{context['context_score']:g}**.", "",
             "| token_reward | blank_penalty | lm_scale | ilm_scale | context_score | WER | deletions | insertions | "
             "substitutions | B-WER | WER with phrases | B-WER with phrases | false names |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in result["points"]:
        mark = " **(chosen)**" if p is best else ""
        cmark = " **(chosen)**" if p is context else ""
        lines.append(f"| {p['token_reward']:g}{mark} | {p['blank_penalty']:g} | {p.get('lm_scale', 0):g} | "
                     f"{p.get('ilm_scale', 0):g} | {p['context_score']:g}{cmark} | "
                     f"{100 * p['wer']:.2f} % | "
                     f"{p['deletions']} | {p['insertions']} | {p['substitutions']} | {100 * p['b_wer']:.1f} % | "
                     f"{100 * p['wer_phrases']:.2f} % | {100 * p['b_wer_phrases']:.1f} % | "
                     f"{p['false_names_phrases']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default="v1hard")
    p.add_argument("--split", default="dev", help="dev: the held-out voices (test) are for measuring only")
    p.add_argument("--limit", type=int, default=0, help="clips, evenly over the voices (0: all)")
    p.add_argument("--token-reward", type=floats, default=[0.0, 0.2, 0.4, 0.6, 0.8])
    p.add_argument("--blank-penalty", type=floats, default=[0.0, 0.5, 1.0, 1.5])
    p.add_argument("--context-score", type=floats, default=None,
                   help="biasing bonus per token (the runs with phrases; default: edgeasr's for --beam, "
                        "edgeasr.recognizer.context_score_default)")
    p.add_argument("--lm-scale", type=floats, default=[0.0], help="n-gram LM weights (0: without the LM)")
    p.add_argument("--ilm-scale", type=floats, default=[0.0],
                   help="internal-LM weights (with lm_scale > 0; RecognizerConfig.ilm_scale)")
    p.add_argument("--lm", type=Path, default=default_lm_path(), help="the n-gram LM (default: the bundled one)")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--lm-no-end", action="store_true", help="the LM does not score the end of sentence")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--name", default="search_tune")
    a = p.parse_args(argv)
    if a.split == "test":
        p.error("--split test: the held-out voices are not for tuning")
    if a.context_score is None:
        a.context_score = [context_score_default(a.beam)]
    if a.limit < 0 or min(a.blank_penalty) < 0 or min(a.context_score) < 0 or min(a.lm_scale) < 0 \
            or min(a.ilm_scale) < 0:
        p.error("--limit, --blank-penalty, --context-score, --lm-scale and --ilm-scale must be >= 0")
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for ilm_scale, lm_scale, penalty, reward in itertools.product(a.ilm_scale, a.lm_scale, a.blank_penalty,
                                                                      a.token_reward):
            if ilm_scale > 0 and lm_scale == 0:
                continue  # the internal LM comes out only with an LM
            plain = None
            for context in a.context_score:
                q = run_point(a, reward, penalty, context, lm_scale, Path(tmp), plain, ilm_scale)
                plain = q.pop("plain")
                points.append(q)
                print(f"lm_scale {lm_scale:g} ilm_scale {ilm_scale:g} token_reward {reward:g} blank_penalty "
                      f"{penalty:g} context_score {context:g}: WER {100 * q['wer']:.2f} % (del {q['deletions']} "
                      f"ins {q['insertions']} sub {q['substitutions']}), with phrases {100 * q['wer_phrases']:.2f} %",
                      file=sys.stderr)
    chosen = min(points, key=lambda q: q["wer"])  # min keeps the first of equals
    setting = ("token_reward", "blank_penalty", "lm_scale", "ilm_scale")
    chosen_context = min((q for q in points if all(q[k] == chosen[k] for k in setting)),
                         key=lambda q: q["wer_phrases"])
    result = {"run": {"command": "python " + shlex.join(["bench/search_tune.py", *(argv or sys.argv[1:])]),
                      "corpus": a.corpus, "split": a.split, "limit": a.limit, "beam": a.beam,
                      "lm": e2e._repo_path(a.lm) if max(a.lm_scale) > 0 else None,
                      "lm_end_of_sentence": not a.lm_no_end,
                      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
              "points": points, "chosen": chosen, "chosen_context": chosen_context}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (a.out / f"{a.name}.md").write_text(markdown(result), encoding="utf-8")
    print(f"wrote {a.out / a.name}.json and .md; chosen: token_reward {chosen['token_reward']:g}, blank_penalty "
          f"{chosen['blank_penalty']:g}, lm_scale {chosen['lm_scale']:g}, context_score "
          f"{chosen_context['context_score']:g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
