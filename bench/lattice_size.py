"""What a lattice costs on the wire against the audio it replaces, and what pruning keeps.

Decodes held-out clips with the bundled model (at the recognizer's default beam, 16, with its LM), prunes each
lattice as the device does before sending
(Lattice.for_wire: posterior >= 1e-3, at most 300 arcs, at most 480 bytes per second of audio) and reports wire
bytes / 16-bit PCM bytes (32,000 bytes per second at 16 kHz), arcs before and after pruning, JSON sizes for
comparison, and whether pruning keeps what a rescorer needs (the 1-best, the reference transcript as a path).

Usage: python bench/lattice_size.py [--corpus-dir ~/.cache/edgeasr/corpora/v1/test] [--clips 200] [--beam 16]
                                   [--max-bytes-per-second 480 (inf: no byte budget)]
Writes bench/results/lattice_size.{json,md}.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from machine import git_revision, package_versions  # noqa: E402

from edgeasr.audio import load_audio  # noqa: E402
from edgeasr.lattice import WIRE_MAX_ARCS, WIRE_MAX_BYTES_PER_SECOND, WIRE_MIN_POSTERIOR, Lattice  # noqa: E402
from edgeasr.recognizer import Recognizer, RecognizerConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 0.02  # wire bytes per PCM byte


def load_cuts(folder: Path, n: int) -> list[dict]:
    """``n`` clips evenly spaced over the manifest (lhotse's cuts.jsonl.gz, read as plain JSON lines)."""
    path = folder / "cuts.jsonl.gz"
    if not path.is_file():
        sys.exit(f"{path}: missing; build the corpus first (python -m edgeasr.train.corpus)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        cuts = [json.loads(line) for line in f if line.strip()]
    picked = [cuts[i * len(cuts) // n] for i in range(min(n, len(cuts)))]
    return [{"id": c["id"], "audio": c["recording"]["sources"][0]["source"],
             "text": " ".join(c["supervisions"][0]["text"].lower().split())} for c in picked]


def has_path(lat: Lattice, words: list[str]) -> bool:
    """Whether some start-to-final path spells ``words`` (empty words skipped)."""
    out: dict[int, list] = {}
    for a in lat.arcs:
        out.setdefault(a.src, []).append(a)
    frontier, seen = [(lat.start, 0)], set()
    while frontier:
        v, i = frontier.pop()
        if (v, i) in seen:
            continue
        seen.add((v, i))
        if i == len(words) and v in lat.finals:
            return True
        for a in out.get(v, []):
            if not a.word:
                frontier.append((a.dst, i))
            elif i < len(words) and a.word == words[i]:
                frontier.append((a.dst, i + 1))
    return False


def stats(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "max": float(v.max()),
            "mean": float(v.mean())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus-dir", type=Path, default=Path.home() / ".cache/edgeasr/corpora/v1/test")
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--beam", type=int, default=RecognizerConfig.beam, help="default: the recognizer's")
    p.add_argument("--out", type=Path, default=RESULTS / "lattice_size")
    p.add_argument("--max-bytes-per-second", type=float, default=WIRE_MAX_BYTES_PER_SECOND,
                   help=f"for_wire's byte budget (default {WIRE_MAX_BYTES_PER_SECOND:g}; inf: none)")
    a = p.parse_args(argv)
    rec = Recognizer(config=RecognizerConfig(beam=a.beam))
    rows = []
    for clip in load_cuts(a.corpus_dir, a.clips):
        samples, rate = load_audio(clip["audio"])
        if rate != 16000:
            sys.exit(f"{clip['audio']}: {rate} Hz; the PCM baseline here is 16 kHz")
        stream = rec.transcribe(samples, rate)
        lat = stream.lattice()
        sent = lat.for_wire(max_bytes_per_second=a.max_bytes_per_second)
        wire = sent.to_bytes()
        back = Lattice.from_bytes(wire)
        ref = clip["text"].split()
        pcm = samples.size * 2
        rows.append({
            "id": clip["id"], "seconds": samples.size / rate, "pcm_bytes": pcm,
            "arcs": len(lat.arcs), "arcs_sent": len(sent.arcs), "nodes_sent": len(sent.nodes),
            "wire_bytes": len(wire), "wire_bytes_unpruned": len(lat.to_bytes()),
            "json_bytes": len(lat.to_json()), "json_bytes_sent": len(sent.to_json()),
            "wire_ratio": len(wire) / pcm,
            "best_kept": back.text() == stream.result().text,
            "ref_in_lattice": has_path(lat, ref), "ref_in_sent": has_path(back, ref),
            "best_is_ref": stream.result().text == clip["text"],
        })
    n = len(rows)
    summary = {
        "clips": n, "beam": a.beam, "wire_min_posterior": WIRE_MIN_POSTERIOR, "wire_max_arcs": WIRE_MAX_ARCS,
        "wire_max_bytes_per_second": a.max_bytes_per_second, "target_ratio": TARGET,
        "wire_ratio": stats([r["wire_ratio"] for r in rows]),
        "wire_bytes": stats([r["wire_bytes"] for r in rows]),
        "wire_bytes_unpruned": stats([r["wire_bytes_unpruned"] for r in rows]),
        "json_bytes": stats([r["json_bytes"] for r in rows]),
        "json_bytes_sent": stats([r["json_bytes_sent"] for r in rows]),
        "arcs": stats([r["arcs"] for r in rows]), "arcs_sent": stats([r["arcs_sent"] for r in rows]),
        "seconds": stats([r["seconds"] for r in rows]),
        "over_target": sum(r["wire_ratio"] > TARGET for r in rows),
        "best_kept": sum(r["best_kept"] for r in rows),
        "best_is_ref": sum(r["best_is_ref"] for r in rows),
        "ref_in_lattice": sum(r["ref_in_lattice"] for r in rows),
        "ref_in_sent": sum(r["ref_in_sent"] for r in rows),
    }
    command = "python bench/lattice_size.py" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])
                                                if (argv if argv is not None else sys.argv[1:]) else "")
    report = {"command": command, "git": git_revision(), "corpus_dir": str(a.corpus_dir),
              "versions": package_versions(["numpy"]), "summary": summary, "clips": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    s = summary
    pct = lambda k: f"{s[k]['median'] * 100:.2f} % / {s[k]['p90'] * 100:.2f} % / {s[k]['max'] * 100:.2f} %"  # noqa
    trio = lambda k, f="{:.0f}": " / ".join(f.format(s[k][q]) for q in ("median", "p90", "max"))  # noqa
    md = [
        f"# Lattice size on the wire: {n} held-out clips, beam {a.beam}",
        "",
        f"Bundled model with its n-gram LM (the recognizer's default); clips {trio('seconds', '{:.2f}')} s "
        f"(median / p90 / max); corpus `{a.corpus_dir}`; "
        f"git {report['git']}. Command: `{command}`.",
        f"Sent = `Lattice.for_wire()` (posterior >= {WIRE_MIN_POSTERIOR:g}, at most {WIRE_MAX_ARCS} arcs, at most "
        f"{a.max_bytes_per_second:g} bytes per second of the audio the lattice spans, best path always kept), then "
        "`to_bytes()`. PCM = 16-bit mono at 16 kHz (32,000 bytes/s).",
        "",
        "| measure | median | p90 | max |",
        "|---|---:|---:|---:|",
        f"| wire bytes / PCM bytes (target <= {TARGET:.0%}) | " + pct("wire_ratio").replace(" / ", " | ") + " |",
        "| wire bytes, sent lattice | " + trio("wire_bytes").replace(" / ", " | ") + " |",
        "| wire bytes, whole lattice (no pruning) | " + trio("wire_bytes_unpruned").replace(" / ", " | ") + " |",
        "| JSON bytes, sent lattice | " + trio("json_bytes_sent").replace(" / ", " | ") + " |",
        "| JSON bytes, whole lattice | " + trio("json_bytes").replace(" / ", " | ") + " |",
        "| arcs, whole lattice | " + trio("arcs").replace(" / ", " | ") + " |",
        "| arcs, sent lattice | " + trio("arcs_sent").replace(" / ", " | ") + " |",
        "",
        f"- Clips over the {TARGET:.0%} target: {s['over_target']} of {n}.",
        f"- The received lattice's best path equals the recognizer's text: {s['best_kept']} of {n}.",
        f"- The reference transcript is a path of the whole lattice in {s['ref_in_lattice']} clips and of the sent "
        f"one in {s['ref_in_sent']} (the 1-best is the reference in {s['best_is_ref']}): what pruning takes away "
        "from a rescorer.",
    ]
    a.out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
