"""Does the cloud LM fix what the device gets wrong? WER of the on-device 1-best against the rescored 1-best on
held-out voices, with the lattice's oracle WER as the ceiling.

    python bench/rescore.py --no-save-weights                # bundled model at its beam (16), LM in
                                                             # ~/.cache/edgeasr/cloud_lm_large
    python bench/rescore.py --model new.safetensors          # a newer acoustic model: rerun, λ/γ are retuned
    python bench/rescore.py --quick                          # 40 dev + 40 test clips, to check the script
    python bench/rescore.py --device-lm --out bench/results/rescore-device-lm
                                                             # the device fuses its n-gram LM too (the default
                                                             # device's lattices: the weights the service should use)

λ/γ (and μ with ``--device-lm``) are saved next to the LM (rescore_weights.json, with the kind of lattices they were
tuned on) unless ``--no-save-weights``: the last run's are the service's.

Every clip is decoded by the recognizer (``--model``, one thread), its lattice is pruned as the device prunes it
(``Lattice.for_wire``), encoded to the wire bytes and decoded again, exactly what the service receives. The lattice
is expanded into at most ``--max-paths`` word sequences and each is scored by the LM (batched). Beam 16 and 128
paths gave the lowest rescored dev WER against (beam 8, 32 paths), (8, 64) and (16, 64) (README, "Cloud
rescoring"); since stop 27 beam 16 is also the recognizer's default (``RecognizerConfig.beam``).

The device's own answer is its 1-best at the same beam. ``--baseline-beam B`` also decodes the test clips at beam B
(a device that never sends lattices and searches less, e.g. 4) and gives the rescored WER against that 1-best too.

λ (LM weight) and γ (per-word bonus) are tuned on **dev** clips only (training voices, dev-split text: contact names
unseen in LM training), by grid search for the fewest word errors (``edgeasr.cloud.rescore.tune``), and written next
to the LM as ``rescore_weights.json`` (what the service loads). With ``--device-lm`` the grid also has μ, the weight
of the device n-gram LM's score of each path: 0 to -lm_scale in fifths, taking none to all of the device's LM share
out of the lattice's scores. ``--dev-corpus`` names the corpora whose dev splits
tune them: by default v1 and v1hard, every dev clip there is. v1/dev alone (400 clips) has few errors for the LM
to fix; v1hard/dev (its 1,200 requests in the training voices under harsher noise, reverberation and telephone band,
as hard as the held-out voices) is what the device's own search settings were tuned on. ``python -m
edgeasr.train.corpus --name v1hard --split dev --n 1200 --augment hard`` builds it.
The test split (held-out voices slt, rab, en1 and test-only surnames) is decoded and scored once with those weights.

Reported per voice and overall (jiwer): device WER (the recognizer's best path), rescored WER, the relative change,
the oracle WER (the best of the expanded paths against the reference: the most any reranking of them can reach),
and the share of clips whose reference is among the expanded paths. Results: bench/results/rescore.{json,md}
(``--quick``: rescore-quick.*).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import jiwer  # noqa: E402

from e2e import even_over_voices  # noqa: E402
from machine import cpu_description, git_revision, package_versions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# configs/cloud_lm_large.toml's LM (9.0 M parameters): lower rescored dev WER than configs/cloud_lm.toml's 4.5 M one
# for both kinds of device lattices (README, "Cloud rescoring").
DEFAULT_LM = Path.home() / ".cache" / "edgeasr" / "cloud_lm_large" / "lm.pt"


class BenchError(RuntimeError):
    """A precondition the user can fix; main() prints it without a traceback."""


def load_clips(corpus: str, split: str, limit: int) -> list[dict]:
    """The split's clips (lhotse cuts read as JSON lines); ``limit`` > 0 takes that many evenly over voices."""
    from edgeasr.train.paths import cache_dir

    path = cache_dir() / "corpora" / corpus / split / "cuts.jsonl.gz"
    if not path.is_file():
        raise BenchError(f"{path}: corpus {corpus}/{split} is not built (bash scripts/build_corpora.sh)")
    clips = []
    with gzip.open(path, "rt") as f:
        for line in f:
            cut = json.loads(line)
            sup = cut["supervisions"][0]
            clips.append({"uid": cut["id"], "path": cut["recording"]["sources"][0]["source"],
                          "voice": sup["speaker"], "text": sup["text"],
                          "kind": (sup.get("custom") or {}).get("kind", "?")})
    return even_over_voices(clips, limit)


def sf_read(path: str):
    import soundfile as sf

    return sf.read(path, dtype="float32", always_2d=False)


def decode(rec, clips: list[dict], log) -> list[dict]:
    """Per clip: the device's 1-best text and the lattice as the service sees it (wire round trip)."""
    from edgeasr.lattice import Lattice

    out = []
    t0 = time.perf_counter()
    for i, clip in enumerate(clips):
        stream = rec.transcribe(*sf_read(clip["path"]))
        lattice = stream.lattice()
        if not isinstance(lattice, Lattice):  # a recognizer from before edgeasr.lattice returned a dict
            lattice = Lattice.from_dict(lattice)
        wire = lattice.for_wire().to_bytes()
        received = Lattice.from_bytes(wire)
        out.append({**clip, "device": stream.result().text, "lattice": received, "wire_bytes": len(wire),
                    "arcs": len(received.arcs)})
        if (i + 1) % 200 == 0:
            log(f"  decoded {i + 1}/{len(clips)} ({time.perf_counter() - t0:.0f} s)")
    return out


def wer(refs: list[str], hyps: list[str]) -> dict:
    o = jiwer.process_words(refs, hyps)
    words = o.hits + o.substitutions + o.deletions
    return {"wer": o.wer, "errors": o.substitutions + o.deletions + o.insertions, "words": words,
            "utterances": len(refs)}


def evaluate(items: list[dict]) -> dict:
    """Device, rescored and oracle WER overall and per voice."""
    groups = defaultdict(list)
    for it in items:
        groups["all"].append(it)
        groups[it["voice"]].append(it)
    report = {}
    for name, group in groups.items():
        refs = [it["text"] for it in group]
        r = {"device": wer(refs, [it["device"] for it in group]),
             "rescored": wer(refs, [it["rescored"] for it in group]),
             "oracle": wer(refs, [it["oracle"] for it in group]),
             "reference_in_paths": sum(it["reference_in_paths"] for it in group) / len(group)}
        d = r["device"]["wer"]
        r["relative_change"] = (r["rescored"]["wer"] - d) / d if d else 0.0
        r["oracle_relative_change"] = (r["oracle"]["wer"] - d) / d if d else 0.0
        report[name] = r
    return dict(sorted(report.items(), key=lambda kv: (kv[0] != "all", kv[0])))


def rescored_texts(candidates: list[list], weights) -> list[str]:
    """Each utterance's best candidate under ``weights`` (ties: the device's order)."""
    from edgeasr.cloud.rescore import combine

    return [max(cands, key=lambda c: (combine(c.acoustic, c.bias, c.lm, len(c.words), weights, c.device_lm),
                                      -c.device_rank)).text if cands else "" for cands in candidates]


def apply(items: list[dict], candidates: list[list], weights) -> None:
    """Fills each item's rescored and oracle hypotheses from its candidates under ``weights``."""
    from edgeasr.cloud.rescore import word_errors

    for it, cands, text in zip(items, candidates, rescored_texts(candidates, weights)):
        ref = tuple(it["text"].split())
        oracle = min(cands, key=lambda c: (word_errors(ref, c.words), c.device_rank)).text if cands else ""
        it.update(rescored=text, oracle=oracle, reference_in_paths=any(c.words == ref for c in cands),
                  paths=len(cands))


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(report: dict) -> str:
    w, lm, t = report["weights"], report["lm"], report["tuning"]
    lines = [
        "# Cloud rescoring on held-out voices",
        "",
        f"`{report['command']}` — {report['date']}, git {report['git']}, {report['machine']['cpu']['model']}",
        "",
        f"Acoustic model `{report['model']['path']}` (sha256 {report['model']['sha256'][:12]}), "
        f"{report['model']['decoding']} beam {report['model']['beam']}"
        + (f", fusing the device n-gram LM `{report['model']['device_lm']}` (lm_scale {report['model']['lm_scale']:g}, "
           f"token reward {report['model']['token_reward']:g})" if report["model"].get("device_lm") else "")
        + f". LM `{lm['path']}`: "
        f"{lm.get('parameters', 0):,} parameters, dev perplexity {lm.get('dev_token_perplexity') or 0:.3f} per token, "
        f"{lm.get('dev_word_perplexity') or 0:.3f} per word. Each lattice pruned for the wire (mean "
        f"{report['wire']['mean_bytes']:.0f} bytes, {report['wire']['mean_arcs']:.1f} arcs), sent through the wire "
        f"format, expanded into at most {w['max_paths']} word sequences (mean {report['wire']['mean_paths']:.1f}). "
        "LM perplexity on the clips' transcripts: " + ", ".join(
            f"{split} {p['token_perplexity']:.3f} per token, {p['word_perplexity']:.3f} per word"
            for split, p in report["lm_perplexity_on_transcripts"].items()) + ".",
        "",
        f"Tuned on {t['utterances']} dev clips ({t.get('corpus', 'v1/dev')}: training voices, dev-split text): "
        f"λ = {w['lm_weight']:g}, "
        f"γ = {w['word_bonus']:g}"
        + (f", μ = {w.get('device_lm_weight', 0.0):g} (times the device n-gram LM's log-probability of each path: "
           f"{-w.get('device_lm_weight', 0.0) / report['model']['lm_scale']:.0%} of the device's LM share taken out)"
           if report["model"].get("device_lm") else "")
        + f"; dev WER {_pct(t['wer_without_lm'])} → {_pct(t['wer'])}.",
        "",
        "| test voice | clips | device WER | rescored WER | relative change | oracle WER | reference among paths |",
        "|---|---|---|---|---|---|---|",
    ]
    for voice, r in report["test"].items():
        lines.append(f"| {voice} | {r['device']['utterances']} | {_pct(r['device']['wer'])} | "
                     f"{_pct(r['rescored']['wer'])} | {100 * r['relative_change']:+.1f} % | "
                     f"{_pct(r['oracle']['wer'])} | {_pct(r['reference_in_paths'])} |")
    lines += ["", "What each part of the score does (each tuned on dev alone, test WER over all held-out clips):", "",
              "| variant | λ | γ | μ | dev WER | test WER | relative change |", "|---|---|---|---|---|---|---|"]
    for name, v in report["variants"].items():
        lines.append(f"| {name} | {v['lm_weight']:g} | {v['word_bonus']:g} | {v.get('device_lm_weight', 0.0):g} | "
                     f"{_pct(v['dev_wer'])} | {_pct(v['test_wer'])} | {100 * v['relative_change']:+.1f} % |")
    a = report["test"]["all"]
    target = "met" if a["relative_change"] <= -0.10 else "not met"
    if report.get("baseline"):
        b = report["baseline"]
        lines += ["", f"Against the device that sends nothing and searches with the recognizer's default beam "
                      f"{b['beam']}: its 1-best {_pct(b['device_wer'])}, rescored {_pct(b['rescored_wer'])} "
                      f"({100 * b['relative_change']:+.1f} %)."]
    lines += ["", f"Target (≥ 10 % relative WER reduction on held-out voices): **{target}** "
                  f"({100 * a['relative_change']:+.1f} %). Oracle: the best of the expanded paths per clip, "
                  f"the most any reranking of them can reach ({100 * a['oracle_relative_change']:+.1f} %).",
              "", f"Times: decoding {report['timing']['decode_s']:.0f} s, LM scoring {report['timing']['lm_s']:.0f} s "
                  f"for {report['timing']['sentences']} sentences."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    from edgeasr import RecognizerConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, help="acoustic model file (default: the bundled one)")
    p.add_argument("--lm", type=Path, default=DEFAULT_LM, help=f"LM file (default {DEFAULT_LM})")
    p.add_argument("--beam", type=int, default=RecognizerConfig.beam,
                   help=f"beam of the device search (default {RecognizerConfig.beam}, the recognizer's)")
    p.add_argument("--max-paths", type=int, default=128, help="word sequences expanded per lattice (default 128)")
    p.add_argument("--lm-scale", type=float, default=None,
                   help="with --device-lm: its weight in the device search (default: lm_search_defaults(--beam))")
    p.add_argument("--token-reward", type=float, default=None,
                   help="the device search's token reward (default: the recognizer's for its beam and LM)")
    p.add_argument("--baseline-beam", type=int, default=None,
                   help="also decode the test clips at this beam, a device that sends nothing and searches less, "
                        "for a second comparison (default: none)")
    p.add_argument("--corpus", default="v1")
    p.add_argument("--dev-corpus", default="v1,v1hard",
                   help="corpora whose dev splits tune λ/γ, comma-separated (default v1,v1hard: every dev clip, the "
                        "hard ones the device's search settings were tuned on among them)")
    p.add_argument("--dev-limit", type=int, default=0, help="dev clips for tuning (0: all)")
    p.add_argument("--limit", type=int, default=0, help="test clips (0: all), evenly over voices")
    p.add_argument("--quick", action="store_true", help="40 dev and 40 test clips; results to rescore-quick.*")
    p.add_argument("--device-lm", nargs="?", const="default", default=None,
                   help="the device fuses this n-gram LM in its search (no FILE: the bundled one), both beams")
    p.add_argument("--no-save-weights", action="store_true", help="do not write rescore_weights.json by the LM")
    p.add_argument("--out", type=Path, help="results stem (default bench/results/rescore)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.dev_limit, args.limit = args.dev_limit or 40, args.limit or 40
    stem = args.out or RESULTS / ("rescore-quick" if args.quick else "rescore")
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    try:
        import torch

        torch.set_num_threads(1)
        from edgeasr import Recognizer, RecognizerConfig
        from edgeasr.cloud.lm import load_lm
        from edgeasr.cloud.rescore import RescoreWeights, Rescorer, save_weights, tune
        from edgeasr.recognizer import default_model_path

        model_path = Path(args.model or default_model_path())
        if not model_path.is_file():
            raise BenchError(f"--model: {model_path} does not exist")
        lm = load_lm(args.lm, threads=1)
        from edgeasr.cli import lm_path

        device_lm = lm_path(args.device_lm)
        if args.lm_scale is not None and device_lm is None:
            raise BenchError("--lm-scale: the device fuses no n-gram LM (add --device-lm)")
        device_lm_name = None if device_lm is None else str(device_lm)  # the kind of lattices, in both reports
        rec = Recognizer(model_path, RecognizerConfig(beam=args.beam, lm_scale=args.lm_scale,
                                                      token_reward=args.token_reward), lm=device_lm)
        dev_corpora = [c for c in args.dev_corpus.split(",") if c]
        if not dev_corpora:
            raise BenchError("--dev-corpus: expected one or more corpus names")
        dev_clips = [clip for c in dev_corpora for clip in load_clips(c, "dev", args.dev_limit)]
        test_clips = load_clips(args.corpus, "test", args.limit)
    except (BenchError, ValueError) as e:
        print(f"rescore: error: {e}", file=sys.stderr)
        return 1

    log(f"decoding {len(dev_clips)} dev and {len(test_clips)} test clips with {model_path.name}, beam {args.beam}")
    t0 = time.perf_counter()
    dev = decode(rec, dev_clips, log)
    test = decode(rec, test_clips, log)
    decode_s = time.perf_counter() - t0
    baseline = None
    if args.baseline_beam is not None and args.baseline_beam != args.beam:
        log(f"decoding the test clips at the baseline beam {args.baseline_beam}")
        base_rec = Recognizer(model_path, RecognizerConfig(beam=args.baseline_beam, lm_scale=args.lm_scale,
                                                           token_reward=args.token_reward), lm=device_lm)
        baseline = [base_rec.transcribe(*sf_read(it["path"])).result().text for it in test]

    perplexity = {split: lm.perplexity([it["text"] for it in items]) for split, items in (("dev", dev), ("test", test))}
    # With a device LM each candidate also gets its score under that LM, so the tuning can take the device's share
    # of it out of the lattice's scores (μ, from none of it to all: -lm_scale x 0, 0.2, ..., 1).
    mu_grid = [0.0]
    if rec.lm is not None:
        mu_grid += [round(-rec.config.lm_scale * k / 5, 6) for k in range(1, 6)]
    rescorer = Rescorer(lm, RescoreWeights(max_paths=args.max_paths), rec.lm)  # the LM the recognizer fuses
    t0 = time.perf_counter()
    dev_cands = rescorer.rescore_many([it["lattice"] for it in dev])
    test_cands = rescorer.rescore_many([it["lattice"] for it in test])
    lm_s = time.perf_counter() - t0
    sentences = sum(map(len, dev_cands)) + sum(map(len, test_cands))
    log(f"LM scored {sentences} sentences in {lm_s:.0f} s")

    weights, tuning = tune(dev_cands, [it["text"] for it in dev], max_paths=args.max_paths,
                           device_lm_weights=mu_grid)
    log(f"tuned on dev: λ = {weights.lm_weight:g}, γ = {weights.word_bonus:g}, μ = {weights.device_lm_weight:g}; "
        "dev WER "
        f"{tuning['wer_without_lm']:.2%} → {tuning['wer']:.2%}")
    model_sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    tuning.update(model=str(model_path), model_sha256=model_sha, beam=args.beam,
                  corpus=",".join(f"{c}/dev" for c in dev_corpora),
                  device_lm=device_lm_name)  # weights fit one kind of lattices
    if not args.no_save_weights and not args.quick:
        saved = save_weights(Path(args.lm).parent / "rescore_weights.json", weights, tuning)
        log(f"wrote {saved}")

    apply(dev, dev_cands, weights)
    apply(test, test_cands, weights)
    refs = [it["text"] for it in test]
    device_wer = wer(refs, [it["device"] for it in test])["wer"]
    variants = {}
    parts = [("device 1-best", {"lm_weights": [0.0], "word_bonuses": [0.0]}),
             ("word bonus only (γ)", {"lm_weights": [0.0]}), ("LM only (λ)", {"word_bonuses": [0.0]}),
             ("LM and word bonus (λ, γ)", {})]
    if len(mu_grid) > 1:
        parts += [("device LM share out, word bonus (μ, γ)", {"lm_weights": [0.0], "device_lm_weights": mu_grid}),
                  ("device LM share out, cloud LM and word bonus (μ, λ, γ)", {"device_lm_weights": mu_grid})]
    for name, grid in parts:
        w, r = tune(dev_cands, [it["text"] for it in dev], max_paths=args.max_paths, **grid)
        test_wer = wer(refs, rescored_texts(test_cands, w))["wer"]
        variants[name] = {"lm_weight": w.lm_weight, "word_bonus": w.word_bonus,
                          "device_lm_weight": w.device_lm_weight, "dev_wer": r["wer"],
                          "test_wer": test_wer, "relative_change": (test_wer - device_wer) / device_wer}
    if baseline is not None:
        b = wer(refs, baseline)["wer"]
        r = wer(refs, [it["rescored"] for it in test])["wer"]
        baseline = {"beam": args.baseline_beam, "device_wer": b, "rescored_wer": r, "relative_change": (r - b) / b}
    report = {
        "command": "python bench/rescore.py" + ("" if argv is None and len(sys.argv) < 2 else " " +
                                                  " ".join(argv if argv is not None else sys.argv[1:])),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": {"cpu": cpu_description(), "packages": package_versions(["torch", "jiwer", "numpy"])},
        "model": {"path": str(model_path), "sha256": model_sha, "decoding": rec.config.decoding, "beam": args.beam,
                  "device_lm": device_lm_name,
                  "lm_scale": rec.config.lm_scale, "token_reward": rec.config.token_reward},
        "lm": {"path": str(args.lm), **{k: v for k, v in lm.info.items() if not isinstance(v, dict)},
               "dev_token_perplexity": lm.info.get("dev", {}).get("token_perplexity"),
               "dev_word_perplexity": lm.info.get("dev", {}).get("word_perplexity")},
        "weights": {"lm_weight": weights.lm_weight, "word_bonus": weights.word_bonus, "max_paths": weights.max_paths,
                    "device_lm_weight": weights.device_lm_weight},
        "tuning": tuning,
        "variants": variants,
        "baseline": baseline,
        "lm_perplexity_on_transcripts": perplexity,
        "wire": {"mean_bytes": sum(it["wire_bytes"] for it in dev + test) / len(dev + test),
                 "mean_arcs": sum(it["arcs"] for it in dev + test) / len(dev + test),
                 "mean_paths": sum(it["paths"] for it in dev + test) / len(dev + test)},
        "timing": {"decode_s": decode_s, "lm_s": lm_s, "sentences": sentences},
        "dev": evaluate(dev),
        "test": evaluate(test),
        "examples": [{"uid": it["uid"], "voice": it["voice"], "reference": it["text"], "device": it["device"],
                      "rescored": it["rescored"], "oracle": it["oracle"]}
                     for it in test if it["device"] != it["rescored"]][:30],
    }
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(report, indent=2))
    Path(f"{stem}.md").write_text(markdown(report))
    a = report["test"]["all"]
    log(f"test ({a['device']['utterances']} clips, held-out voices): device WER {a['device']['wer']:.2%}, rescored "
        f"{a['rescored']['wer']:.2%} ({100 * a['relative_change']:+.1f} % relative), oracle {a['oracle']['wer']:.2%}")
    log(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
