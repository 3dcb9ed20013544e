"""How accurate is a peer, PocketSphinx 5.1.1, on the audio our model is evaluated on?

    python bench/peers_accuracy.py               # full run: bench/results/peers_accuracy.{json,md}
    python bench/peers_accuracy.py --limit 20    # 20 clips of each set: bench/results/peers_accuracy-limit20.*

Two sets, each decoded as a fair user of PocketSphinx would decode it:

- the held-out synthesized corpus split (default v1/test): the default English acoustic model, dictionary and
  large-vocabulary language model that ship with the pip package; word error rate per voice and overall, from the
  same ``wer_by_voice`` that scores our model, after folding PocketSphinx's words into our transcript form;
- the Free Spoken Digit Dataset (real people, 8 kHz): resampled to 16 kHz with the resampler our own evaluation uses,
  then decoded with a digit grammar (the fair setting for isolated digits) and, for reference, with the default LM;
  a clip is right when the only word recognized is its digit ("oh" counts as "zero").

Every clip is decoded from a freshly reset front end (``Decoder.reinit_feat``): the decoder otherwise carries noise
and cepstral-mean estimates from one utterance into the next, so results would depend on the order and on --limit.
Real-time factors are decoding time (the front end and search, not file reading or resampling) over audio duration,
one thread (PocketSphinx does not use more).
"""

from __future__ import annotations

import os

# One thread for the numpy/torch work around the decoder (reading, resampling): the decoder's own thread is what we time.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import collections  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from machine import cpu_description, git_revision, package_versions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd"
PEER_TEST_DATA = REPO.parent / "shared" / "data" / "pocketsphinx-test"  # PocketSphinx's own test clips
PEER_VERSION = "5.1.1"
SAMPLE_RATE = 16000  # the rate of PocketSphinx's en-us acoustic model (its feat.params: -upperf 6800)
TEST_SPLIT_SIZE = 1200  # what `python -m edgeasr.train.corpus --split test` is run with for v1

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SPOKEN_ALIASES = {"oh": "zero"}  # "oh" is how many people say 0
GRAMMAR_WORDS = DIGIT_WORDS + tuple(_SPOKEN_ALIASES)
DIGIT_GRAMMAR = f"#JSGF V1.0;\ngrammar digits;\npublic <digit> = {' | '.join(GRAMMAR_WORDS)} ;\n"


class BenchError(RuntimeError):
    """A precondition the user can fix (missing corpus, data or package); main() prints it without a traceback."""


# ---------------------------------------------------------------------------------------------------------------
# PocketSphinx
# ---------------------------------------------------------------------------------------------------------------

def _pocketsphinx():
    try:
        import pocketsphinx
    except ImportError as e:
        raise BenchError(f"pocketsphinx is not installed ({e}); pip install pocketsphinx=={PEER_VERSION}") from e
    return pocketsphinx


class Sphinx:
    """One PocketSphinx decoder on its shipped en-us model: the default large-vocabulary LM, or a JSGF grammar."""

    def __init__(self, grammar: Optional[str] = None):
        ps = _pocketsphinx()
        # Decoder() with no paths loads the pip package's defaults: en-us acoustic model, cmudict-en-us.dict,
        # en-us.lm.bin, and the model's feat.params (batch CMN, noise removal, 130-6800 Hz filterbank).
        self.decoder = ps.Decoder(loglevel="ERROR")
        if grammar is not None:
            self.decoder.add_jsgf_string("grammar", grammar)
            self.decoder.activate_search("grammar")
        self.search = "grammar" if grammar is not None else "default LM"
        self._lm = self.decoder.get_lm(self.decoder.current_search()) if grammar is None else None

    def config(self) -> dict:
        c = self.decoder.config
        keys = ("hmm", "lm", "dict", "samprate", "cmn", "remove_noise", "lowerf", "upperf", "nfilt", "lw", "beam",
                "wbeam", "bestpath", "fwdflat")
        return {k: c[k] for k in keys} | {"search": self.search}

    def decode(self, pcm: np.ndarray) -> tuple[str, float, float]:
        """(hypothesis, wall seconds, CPU seconds) for one whole utterance of 16 kHz int16 ``pcm``."""
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"pcm: 1-D int16 expected, got {pcm.dtype} with shape {pcm.shape}")
        d = self.decoder
        d.reinit_feat()  # forget the previous utterance's noise and cepstral-mean estimates
        data = np.ascontiguousarray(pcm).tobytes()
        t0, c0 = time.perf_counter(), time.thread_time()
        d.start_utt()
        d.process_raw(data, full_utt=True)  # the whole utterance at once, so batch CMN sees all of it
        d.end_utt()
        hyp = d.hyp()
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        return (hyp.hypstr if hyp is not None else ""), wall, cpu

    def can_output(self, word: str) -> bool:
        """Whether the default search could emit ``word``: in the dictionary and in the LM's unigrams."""
        if self.decoder.lookup_word(word) is None:
            return False
        return self._lm is None or self._lm.prob([word]) > -(1 << 28)  # unknown words get -2^29, no real unigram


_VARIANT = re.compile(r"\(\d+\)$")  # cmudict marks alternate pronunciations "word(2)"
_NOT_WORD = re.compile(r"[^a-z0-9']+")
# cmudict abbreviations, spelled as their pronunciations there say; our transcripts write the spoken word.
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "drive", "jr": "junior", "mt": "mount", "st": "street"}


def normalize(text: str) -> str:
    """PocketSphinx words in our transcript form: lowercase words of letters and inner apostrophes, no fillers.
    "a.m." -> "a m", "hip-hop" -> "hip hop", "'cause" -> "cause", "mr." -> "mister"; digits (none in the shipped
    dictionary) spelled."""
    out = []
    for word in text.lower().split():
        if word.startswith(("<", "[", "++")):  # <s>, </s>, <sil>, [noise], ++filler++
            continue
        for part in _NOT_WORD.sub(" ", _VARIANT.sub("", word)).split():
            part = part.strip("'")
            part = _ABBREVIATIONS.get(part, part)
            if part.isdigit():
                from edgeasr.train.text import _spell  # the corpus's own number spelling

                part = _spell(int(part))
            if part:
                out.append(part)
    return " ".join(out)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def even_subsample(items: Sequence, limit: int) -> list:
    """Every k-th item, at most ``limit``: the rule edgeasr.train.evaluate.evaluate_fsdd uses, so a limited run
    scores the same FSDD clips as our model's limited evaluation."""
    items = list(items)
    if not limit:
        return items
    return items[:: max(1, len(items) // limit)][:limit]


def _bar(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, mininterval=5.0, smoothing=0.05, unit="clip")


def _rtf(durations: Sequence[float], walls: Sequence[float], cpus: Sequence[float]) -> dict:
    audio = float(sum(durations))
    per_clip = np.asarray(walls) / np.maximum(np.asarray(durations), 1e-9)
    return {"audio_s": audio, "decode_wall_s": float(sum(walls)), "decode_cpu_s": float(sum(cpus)),
            "rtf_wall": float(sum(walls)) / max(audio, 1e-9), "rtf_cpu": float(sum(cpus)) / max(audio, 1e-9),
            "per_clip_rtf_wall_median": float(np.median(per_clip)) if len(per_clip) else None,
            "per_clip_rtf_wall_p90": float(np.percentile(per_clip, 90)) if len(per_clip) else None}


# ---------------------------------------------------------------------------------------------------------------
# The synthesized corpus
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Clip:
    uid: str
    path: Path
    group: str  # voice (corpus) or speaker (FSDD)
    kind: str
    text: str


def corpus_clips(corpus: str, split: str) -> list[Clip]:
    from edgeasr.train.corpus import corpus_dir, load_cuts

    build = (f"python -m edgeasr.train.corpus --name {corpus} --split {split}"
             f" --n {TEST_SPLIT_SIZE if split == 'test' else 'N'}")
    try:
        folder = corpus_dir(corpus, split)
    except ValueError as e:
        raise BenchError(f"--corpus/--split: {e}") from e
    if not (folder / "cuts.jsonl.gz").exists():
        partial = len(list((folder / "audio").glob("*.json"))) if (folder / "audio").is_dir() else 0
        state = f"{partial} utterances rendered so far, manifests not written" if partial else "not built"
        raise BenchError(f"corpus {corpus}/{split} ({folder}): {state}. Build it with:\n    {build}")
    clips = []
    for cut in load_cuts(corpus, split):
        sup = cut.supervisions[0]
        rec = cut.recording
        if rec.sampling_rate != SAMPLE_RATE:
            raise BenchError(f"{cut.id}: {rec.sampling_rate} Hz, expected {SAMPLE_RATE}")
        clips.append(Clip(cut.id, Path(rec.sources[0].source), sup.speaker, (sup.custom or {}).get("kind", "?"),
                          sup.text))
    missing = [c.path for c in clips if not c.path.exists()]
    if missing:
        raise BenchError(f"corpus {corpus}/{split}: {len(missing)} audio files missing (first: {missing[0]}); "
                         f"rebuild with:\n    {build}")
    return clips


def run_corpus(clips: list[Clip], sphinx: Sphinx) -> dict:
    import jiwer
    import soundfile as sf

    from edgeasr.train.evaluate import wer_by_voice

    rows = []
    with _bar(len(clips), "pocketsphinx corpus") as bar:
        for c in clips:
            pcm, rate = sf.read(str(c.path), dtype="int16", always_2d=True)  # 16-bit FLAC: exact samples
            if rate != SAMPLE_RATE or pcm.shape[1] != 1:
                raise BenchError(f"{c.path}: {rate} Hz, {pcm.shape[1]} channels; expected {SAMPLE_RATE} Hz mono")
            raw, wall, cpu = sphinx.decode(pcm[:, 0])
            rows.append({"id": c.uid, "voice": c.group, "kind": c.kind, "ref": c.text, "hyp": normalize(raw),
                         "raw": raw, "duration_s": len(pcm) / rate, "wall_s": wall, "cpu_s": cpu})
            bar.update()
    refs, hyps = [r["ref"] for r in rows], [r["hyp"] for r in rows]
    words = jiwer.process_words(refs, hyps)
    ref_words = [w for r in refs for w in r.split()]
    unreachable = collections.Counter(w for w in ref_words if not sphinx.can_output(w))
    return {
        "by_voice": wer_by_voice(refs, hyps, [r["voice"] for r in rows]),
        "by_kind": wer_by_voice(refs, hyps, [r["kind"] for r in rows]),
        "errors": {"substitutions": words.substitutions, "deletions": words.deletions,
                   "insertions": words.insertions, "hits": words.hits},
        "empty_hypotheses": sum(not h for h in hyps),
        "out_of_vocabulary": {"ref_words": len(ref_words), "oov_words": sum(unreachable.values()),
                              "oov_rate": sum(unreachable.values()) / max(len(ref_words), 1),
                              "distinct_oov": len(unreachable), "most_common": unreachable.most_common(20)},
        "rtf": _rtf([r["duration_s"] for r in rows], [r["wall_s"] for r in rows], [r["cpu_s"] for r in rows]),
        "clips": rows,
    }


# ---------------------------------------------------------------------------------------------------------------
# FSDD
# ---------------------------------------------------------------------------------------------------------------

def fsdd_clips(folder: Path) -> list[Clip]:
    if not folder.is_dir():
        raise BenchError(f"--fsdd {folder}: no such folder (the Free Spoken Digit Dataset, see "
                         f"{DEFAULT_FSDD.parent / 'README.md'})")
    clips = []
    for f in sorted(folder.glob("*.wav")):  # the order edgeasr.train.evaluate.evaluate_fsdd uses
        parts = f.stem.split("_")
        if len(parts) != 3 or not parts[0].isdigit() or not 0 <= int(parts[0]) <= 9:
            raise BenchError(f"{f}: not an FSDD name ({{digit}}_{{speaker}}_{{index}}.wav)")
        clips.append(Clip(f.stem, f, parts[1], "digit", DIGIT_WORDS[int(parts[0])]))
    if not clips:
        raise BenchError(f"--fsdd {folder}: no .wav files")
    return clips


def _digit_of(hyp: str) -> Optional[str]:
    words = hyp.split()
    return _SPOKEN_ALIASES.get(words[0], words[0]) if len(words) == 1 else None


def run_fsdd(clips: list[Clip], searches: dict[str, Sphinx]) -> dict:
    import soundfile as sf
    import torch

    from edgeasr.train.synth import resample

    torch.set_num_threads(1)
    rows = []
    with _bar(len(clips), "pocketsphinx fsdd") as bar:
        for c in clips:
            x, rate = sf.read(str(c.path), dtype="float32", always_2d=True)
            pcm = to_int16(resample(x[:, 0], rate, SAMPLE_RATE))  # as a user would: up to the model's rate
            row = {"id": c.uid, "speaker": c.group, "ref": c.text, "duration_s": len(pcm) / SAMPLE_RATE}
            for name, sphinx in searches.items():
                raw, wall, cpu = sphinx.decode(pcm)
                hyp = normalize(raw)
                row[name] = {"hyp": hyp, "raw": raw, "right": _digit_of(hyp) == c.text, "wall_s": wall,
                             "cpu_s": cpu}
            rows.append(row)
            bar.update()
    return {"searches": {name: summarize_fsdd(rows, name) for name in searches}, "clips": rows}


def summarize_fsdd(rows: list[dict], name: str) -> dict:
    """Accuracy overall, per speaker and per digit, the most common errors and the real-time factor of the search
    ``name`` over FSDD rows ({"speaker", "ref", "duration_s", name: {"hyp", "right", "wall_s", "cpu_s"}})."""
    by_speaker, by_digit = collections.defaultdict(list), collections.defaultdict(list)
    for r in rows:
        by_speaker[r["speaker"]].append(r[name]["right"])
        by_digit[r["ref"]].append(r[name]["right"])
    wrong = collections.Counter((r["ref"], r[name]["hyp"] or "<empty>") for r in rows if not r[name]["right"])
    right = [r[name]["right"] for r in rows]
    return {
        "accuracy": sum(right) / len(right), "clips": len(right),
        "by_speaker": {s: {"accuracy": sum(v) / len(v), "clips": len(v)} for s, v in sorted(by_speaker.items())},
        "by_digit": {d: {"accuracy": sum(by_digit[d]) / len(by_digit[d]), "clips": len(by_digit[d])}
                     for d in DIGIT_WORDS if by_digit[d]},
        "most_common_errors": [{"ref": a, "hyp": b, "count": n} for (a, b), n in wrong.most_common(15)],
        "rtf": _rtf([r["duration_s"] for r in rows], [r[name]["wall_s"] for r in rows],
                    [r[name]["cpu_s"] for r in rows]),
    }


# ---------------------------------------------------------------------------------------------------------------
# Set-up check: the peer on its own test recordings
# ---------------------------------------------------------------------------------------------------------------

def run_setup_check(sphinx: Sphinx, folder: Path = PEER_TEST_DATA) -> dict:
    """WER of the default decoder on PocketSphinx's own read-speech test clips (goforward and librivox): a low
    figure shows the peer is set up as its authors intended, so its figures on our audio are its own."""
    import jiwer
    import soundfile as sf

    items = []
    if (folder / "goforward.raw").exists():
        items.append(("goforward", np.fromfile(folder / "goforward.raw", dtype="<i2"), "go forward ten meters"))
    for wav in sorted((folder / "librivox").glob("*.wav")):
        pcm, rate = sf.read(str(wav), dtype="int16")
        if rate == SAMPLE_RATE and pcm.ndim == 1 and wav.with_suffix(".txt").exists():
            items.append((wav.stem, pcm, " ".join(wav.with_suffix(".txt").read_text(encoding="utf-8").split())))
    if not items:
        return {"folder": str(folder), "clips": 0}
    hyps = [normalize(sphinx.decode(pcm)[0]) for _, pcm, _ in items]
    refs = [ref for _, _, ref in items]
    return {"folder": str(folder), "clips": len(items), "wer": jiwer.wer(refs, hyps),
            "words": sum(len(r.split()) for r in refs),
            "examples": [{"id": i, "ref": r, "hyp": h} for (i, _, r), h in zip(items, hyps)]}


# ---------------------------------------------------------------------------------------------------------------
# The machine and the report
# ---------------------------------------------------------------------------------------------------------------

def machine_info() -> dict:
    cpu = cpu_description()
    return {"cpu": cpu["model"], "logical_cpus": cpu["logical_cpus"], "platform": platform.platform(),
            "versions": package_versions(("pocketsphinx", "jiwer", "numpy", "soundfile", "lhotse", "torch",
                                          "edgeasr")),
            "git": git_revision(), "nice": os.nice(0)}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _wer_table(groups: dict, label: str) -> list[str]:
    lines = [f"| {label} | WER | utterances | words |", "|---|---:|---:|---:|"]
    for name, g in groups.items():
        if name != "all":
            lines.append(f"| {name} | {_pct(g['wer'])} | {g['utterances']} | {g['words']} |")
    g = groups["all"]
    lines.append(f"| **all** | **{_pct(g['wer'])}** | {g['utterances']} | {g['words']} |")
    return lines


def _setup_line(check: dict) -> str:
    if not check["clips"]:
        return f"- Set-up check skipped: no PocketSphinx test clips in {check['folder']}"
    return (f"- Set-up check: {_pct(check['wer'])} WER on PocketSphinx's own read-speech test clips "
            f"({check['clips']} clips, {check['words']} words; goforward and librivox)")


def _rtf_line(r: dict) -> str:
    return (f"real-time factor {r['rtf_wall']:.3f} wall, {r['rtf_cpu']:.3f} CPU (one thread; "
            f"{r['decode_wall_s']:.1f} s decoding {r['audio_s']:.1f} s of audio; per clip median "
            f"{r['per_clip_rtf_wall_median']:.3f}, 90th percentile {r['per_clip_rtf_wall_p90']:.3f})")


def markdown(report: dict) -> str:
    m, run = report["machine"], report["run"]
    v = m["versions"]
    load = run["load_average"]
    lines = [
        "# PocketSphinx on edgeasr's evaluation audio",
        "",
        f"- Peer: PocketSphinx {v['pocketsphinx']} (pip), its shipped en-us acoustic model, cmudict-en-us.dict and "
        "en-us.lm.bin; every clip decoded whole (`full_utt=True`) from a reset front end.",
        _setup_line(report["peer"]["setup_check"]),
        f"- Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; {m['platform']}; nice {m['nice']}",
        f"- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + f"; git {m['git']}",
        f"- Command: `{run['command']}`",
        f"- Date: {run['date']}; took {run['wall_s'] / 60:.1f} min; 1-minute load average "
        f"{load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end",
    ]
    if max(load["start"][0], load["end"][0]) > 0.8 * (m["logical_cpus"] or 1):
        lines.append("- **Warning:** the machine was busy while this ran: accuracy is unaffected, wall-clock "
                     "real-time factors are inflated (the CPU-time ones less so).")
    if "corpus" in report:
        c = report["corpus"]
        oov = c["out_of_vocabulary"]
        e = c["errors"]
        lines += [
            "", f"## Synthesized held-out speech: corpus {run['corpus']}/{run['split']}", "",
            "Default LM (large vocabulary), WER after folding PocketSphinx's words into our transcript form "
            "(lowercase, no punctuation, `a.m.` as `a m`). Voices are the split's held-out TTS voices.", "",
            *_wer_table(c["by_voice"], "voice"),
            "",
            f"Errors: {e['substitutions']} substitutions, {e['deletions']} deletions, {e['insertions']} insertions "
            f"({e['hits']} words right); {c['empty_hypotheses']} empty hypotheses.",
            f"Out of PocketSphinx's vocabulary (not in its dictionary or LM unigrams, so it can never be right): "
            f"{oov['oov_words']} of {oov['ref_words']} reference words ({_pct(oov['oov_rate'])}), "
            f"{oov['distinct_oov']} distinct; most common: "
            + ", ".join(f"{w} ({n})" for w, n in oov["most_common"][:10]) + ".",
            f"Speed: {_rtf_line(c['rtf'])}.",
            "", "By kind of request:", "",
            *_wer_table(c["by_kind"], "kind"),
        ]
    if "fsdd" in report:
        s = report["fsdd"]["searches"]
        names = list(s)
        speakers = list(s[names[0]]["by_speaker"])
        lines += [
            "", "## FSDD: real people saying one digit (8 kHz, resampled to 16 kHz)", "",
            "Right when the only word recognized is the digit (`oh` counts as `zero`). The grammar allows just the "
            "eleven words; the default LM is open vocabulary, as our model is.", "",
            "| speaker | clips | " + " | ".join(f"accuracy, {n}" for n in names) + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for sp in speakers:
            lines.append(f"| {sp} | {s[names[0]]['by_speaker'][sp]['clips']} | "
                         + " | ".join(_pct(s[n]["by_speaker"][sp]["accuracy"]) for n in names) + " |")
        lines.append(f"| **all** | {s[names[0]]['clips']} | "
                     + " | ".join(f"**{_pct(s[n]['accuracy'])}**" for n in names) + " |")
        lines += ["", "| digit | " + " | ".join(f"accuracy, {n}" for n in names) + " |",
                  "|---|" + "---:|" * len(names)]
        for d in s[names[0]]["by_digit"]:
            lines.append(f"| {d} | " + " | ".join(_pct(s[n]["by_digit"][d]["accuracy"]) for n in names) + " |")
        for n in names:
            errs = ", ".join(f"{x['ref']} → {x['hyp']} ({x['count']})" for x in s[n]["most_common_errors"][:8])
            lines += ["", f"{n}: {_rtf_line(s[n]['rtf'])}. Most common errors: {errs or 'none'}."]
    lines += ["", "Per-clip hypotheses are in the JSON file next to this one.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------

def write_report(report: dict, markdown, out: Path, stem: str) -> None:
    """out/stem.json and out/stem.md (``markdown(report)``, also printed)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = markdown(report)
    (out / f"{stem}.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out / stem}.json and .md", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="PocketSphinx side by side with edgeasr: WER on a synthesized corpus "
                                "split and digit accuracy on FSDD.")
    p.add_argument("--corpus", default="v1", help="corpus name (default v1)")
    p.add_argument("--split", default="test", help="corpus split (default test)")
    p.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD, help=f"FSDD folder (default {DEFAULT_FSDD})")
    p.add_argument("--limit", type=int, default=0, help="at most N clips of each set, evenly spaced (0: all)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="output folder")
    p.add_argument("--skip-corpus", action="store_true", help="FSDD only")
    p.add_argument("--skip-fsdd", action="store_true", help="corpus only")
    a = p.parse_args(argv)
    if a.limit < 0:
        p.error(f"--limit: must be >= 0, got {a.limit}")
    if a.skip_corpus and a.skip_fsdd:
        p.error("--skip-corpus and --skip-fsdd leave nothing to do")

    stem = "peers_accuracy" + (f"-limit{a.limit}" if a.limit else "") + \
        ("-fsdd" if a.skip_corpus else "-corpus" if a.skip_fsdd else "")
    t0 = time.perf_counter()
    load_start = os.getloadavg()
    try:
        ps = _pocketsphinx()
        version = importlib.metadata.version("pocketsphinx")
        if version != PEER_VERSION:
            print(f"warning: pocketsphinx {version} installed, this benchmark is written for {PEER_VERSION}",
                  file=sys.stderr)
        # Fail on missing inputs before any decoding.
        clips_c = even_subsample(corpus_clips(a.corpus, a.split), a.limit) if not a.skip_corpus else None
        clips_f = even_subsample(fsdd_clips(a.fsdd), a.limit) if not a.skip_fsdd else None
        default = Sphinx()
        report: dict = {"peer": {"name": "pocketsphinx", "version": version, "model_dir": ps.get_model_path(),
                                 "config": default.config(), "setup_check": run_setup_check(default)}}
        if clips_c is not None:
            report["corpus"] = run_corpus(clips_c, default)
        if clips_f is not None:
            grammar = Sphinx(DIGIT_GRAMMAR)
            missing = [w for w in GRAMMAR_WORDS if grammar.decoder.lookup_word(w) is None]
            if missing:
                raise BenchError(f"digit grammar words missing from the dictionary: {missing}")
            report["fsdd"] = run_fsdd(clips_f, {"grammar": grammar, "default LM": default})
            report["fsdd"]["grammar"] = DIGIT_GRAMMAR
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report["machine"] = machine_info()
    report["run"] = {"command": " ".join(shlex.quote(x) for x in [sys.executable, *sys.argv]),
                     "corpus": a.corpus, "split": a.split, "fsdd": str(a.fsdd), "limit": a.limit,
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "wall_s": time.perf_counter() - t0,
                     "load_average": {"start": load_start, "end": os.getloadavg()}}
    write_report(report, markdown, a.out, stem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
