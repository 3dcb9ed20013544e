"""Building a synthesized corpus in parallel, with a cache that survives restarts, and its lhotse manifests.

Layout of ``cache_dir()/corpora/<name>/<split>/``::

    audio/<uid>.flac            16 kHz mono, 16-bit FLAC
    audio/<uid>.json            how it was rendered: text, voice, seed, timing; written last, so it marks a
                                finished utterance (an utterance with both files and the same inputs is not rendered
                                again)
    recordings.jsonl.gz         lhotse RecordingSet
    supervisions.jsonl.gz       lhotse SupervisionSet: text, speaker = voice name, custom = kind, names,
                                speech_start, speech_end, pauses, voice, augment
    cuts.jsonl.gz               lhotse CutSet (one cut per recording, id = uid)
    feats.npy                   all cuts' fbank frames, float32 [sum T, num_bins], in cut order (np.load with
                                mmap_mode="r"); edgeasr.features.compute_fbank on the FLAC audio as read back
    feats_index.json            the FbankConfig, cut ids, offsets and frame counts into feats.npy
    failures.jsonl              utterances that could not be rendered (left out of the manifests)
    build_log.jsonl             one line per build run: rendered, cached, failed, wall time, audio seconds

Every file is written to a temporary name and renamed, so a killed build leaves no half-written file behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import re
import sys
import time
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf

from edgeasr.features import FbankConfig, compute_fbank
from edgeasr.train.paths import cache_dir
from edgeasr.train.synth import SYNTH_VERSION, AugmentConfig, render
from edgeasr.train.voices import SPLITS, Voice, voices_for

_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a named corpus is built, so that ``--name`` alone rebuilds it the same way."""
    seed: int = 0
    kind_weights: tuple[tuple[str, float], ...] = ()  # edgeasr.train.text.generate_requests overrides
    extended_voices: bool = False                     # edgeasr.train.voices: the extended training set too
    augment: str = "default"                          # a key of AUGMENTS, unless --augment says otherwise


RECIPES = {
    "v1": Recipe(),
    # Training-only supplement: other requests and contacts (seed 1; test surnames stay out whatever the seed),
    # short answers (a bare digit, "yes", a name; the v1 model had never heard one word alone), and 43 voices more.
    "v2": Recipe(seed=1, kind_weights=(("short", 20.0),), extended_voices=True),
    # Twice v1's requests again (seed 2), v1's mix over v2's voices, in the harsher conditions of the v1hard dev set:
    # more text and names, and noise, reverberation, rate and speed the default leaves out.
    "v3": Recipe(seed=2, extended_voices=True, augment="hard"),
    # v3's counterpart in the default conditions (seed 3): more text and names without the harsher augmentation.
    "v4": Recipe(seed=3, extended_voices=True),
}

AUGMENTS = {"default": AugmentConfig, "none": AugmentConfig.none, "hard": AugmentConfig.hard}


def corpus_dir(name: str, split: str) -> Path:
    """Where corpus ``name``'s ``split`` lives: ``cache_dir()/corpora/<name>/<split>``."""
    if not _UID.fullmatch(name):
        raise ValueError(f"name: letters, digits, '.', '_' and '-' only, got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"split: one of {SPLITS}, got {split!r}")
    return cache_dir() / "corpora" / name / split


def _atomic_path(path: Path) -> Path:
    # Same directory (so the rename is atomic) and same suffixes (lhotse and soundfile pick formats by them).
    return path.with_name(f".tmp{os.getpid()}-{path.name}")


def _write_json(path: Path, obj) -> None:
    tmp = _atomic_path(path)
    tmp.write_text(json.dumps(obj, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _jsonable(obj):
    return json.loads(json.dumps(obj))


def _utterance_seed(name: str, split: str, seed: int, uid: str) -> int:
    state = np.random.SeedSequence([seed, zlib.crc32(name.encode()), zlib.crc32(split.encode()),
                                    zlib.crc32(uid.encode())]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 32 | int(state[1])


def assign_voices(uids: Sequence[str], voices: Sequence[Voice], seed: int) -> list[Voice]:
    """Round-robin over the voices in a freshly shuffled order each round: every voice speaks the same number of
    utterances (within one) and the assignment is fixed by the seed."""
    rng = np.random.default_rng(seed)
    out: list[Voice] = []
    while len(out) < len(uids):
        out.extend(voices[i] for i in rng.permutation(len(voices)))
    return out[: len(uids)]


@dataclasses.dataclass(frozen=True)
class _Job:
    uid: str
    text: str
    kind: str
    names: tuple[str, ...]
    voice: Voice
    seed: int
    augment: AugmentConfig
    audio_dir: str


def _cache_key(job: _Job) -> dict:
    return _jsonable({"text": job.text, "voice": job.voice.name, "seed": job.seed,
                      "augment_config": job.augment.to_dict(), "synth_version": SYNTH_VERSION})


def _render_one(job: _Job) -> dict:
    """Render ``job`` unless its files are already there; returns its record (the sidecar JSON) or a failure."""
    flac = Path(job.audio_dir) / f"{job.uid}.flac"
    side = flac.with_suffix(".json")
    key = _cache_key(job)
    if side.exists() and flac.exists():
        try:
            rec = json.loads(side.read_text(encoding="utf-8"))
            if {k: rec.get(k) for k in key} == key:
                return {**rec, "cached": True}
        except (OSError, ValueError):
            pass  # unreadable: render again
    t0 = time.perf_counter()
    try:
        utt = render(job.text, job.voice, job.seed, job.augment)
    except (RuntimeError, ValueError) as e:
        return {"uid": job.uid, "failed": str(e)[:1000], "voice": job.voice.name, "text": job.text}
    tmp = _atomic_path(flac)
    sf.write(str(tmp), utt.samples, utt.sample_rate, format="FLAC", subtype="PCM_16")
    os.replace(tmp, flac)
    meta = dict(utt.meta)
    rec = {**key, "uid": job.uid, "kind": job.kind, "names": list(job.names), "num_samples": len(utt.samples),
           "sample_rate": utt.sample_rate, "speech_start": meta.pop("speech_start"), "speech_end": utt.speech_end,
           "pauses": [dataclasses.asdict(p) for p in utt.pauses], "augment": meta,
           "render_s": time.perf_counter() - t0}
    rec = _jsonable(rec)
    _write_json(side, rec)
    return {**rec, "cached": False}


def _features_one(path: str) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32")
    return compute_fbank(x, sr, FbankConfig())


def _init_worker() -> None:
    try:
        import torch  # the resampler's convolutions: one thread per worker process, the processes are the parallelism

        torch.set_num_threads(1)
    except ImportError:
        pass


def _map(fn, items: Sequence, workers: int, desc: str, ordered: bool = False, min_parallel: int = 1) -> Iterable:
    from tqdm import tqdm

    bar = dict(total=len(items), desc=desc, mininterval=5.0, smoothing=0.05, file=sys.stderr)
    if workers <= 1 or len(items) < min_parallel:
        _init_worker()
        yield from tqdm(map(fn, items), **bar)
        return
    # spawn, not fork: the parent may hold torch's thread pools, which do not survive a fork.
    with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        it = pool.imap(fn, items, chunksize=4) if ordered else pool.imap_unordered(fn, items, chunksize=2)
        yield from tqdm(it, **bar)


def _write_manifests(out: Path, records: list[dict]):
    from lhotse import CutSet, MonoCut, Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.audio import AudioSource

    recs, sups, cuts = [], [], []
    for r in records:
        path = out / "audio" / f"{r['uid']}.flac"
        dur = r["num_samples"] / r["sample_rate"]
        recs.append(Recording(id=r["uid"], sources=[AudioSource(type="file", channels=[0], source=str(path))],
                              sampling_rate=r["sample_rate"], num_samples=r["num_samples"], duration=dur))
        sups.append(SupervisionSegment(
            id=r["uid"], recording_id=r["uid"], start=0.0, duration=dur, channel=0, text=r["text"],
            language="en", speaker=r["voice"],
            custom={"kind": r["kind"], "names": r["names"], "speech_start": r["speech_start"],
                    "speech_end": r["speech_end"], "pauses": r["pauses"], "voice": r["voice"],
                    "augment": r["augment"], "seed": r["seed"]}))
        cuts.append(MonoCut(id=r["uid"], start=0.0, duration=dur, channel=0, recording=recs[-1],
                            supervisions=[sups[-1]]))
    recordings, supervisions = RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)
    cuts = CutSet.from_cuts(cuts)
    for obj, fname in ((recordings, "recordings.jsonl.gz"), (supervisions, "supervisions.jsonl.gz"),
                       (cuts, "cuts.jsonl.gz")):
        tmp = _atomic_path(out / fname)
        obj.to_file(tmp)
        os.replace(tmp, out / fname)
    return cuts


def _write_features(out: Path, records: list[dict], workers: int) -> None:
    config = FbankConfig()
    ids = [r["uid"] for r in records]
    frames = [config.num_frames(r["num_samples"]) for r in records]
    index = {"config": dataclasses.asdict(config), "ids": ids, "num_frames": frames,
             "offsets": np.concatenate([[0], np.cumsum(frames)]).tolist()[:-1] if frames else []}
    index_path, feats_path = out / "feats_index.json", out / "feats.npy"
    if index_path.exists() and feats_path.exists():
        try:
            if json.loads(index_path.read_text(encoding="utf-8")) == index:
                return
        except (OSError, ValueError):
            pass
    tmp = _atomic_path(feats_path)
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(int(sum(frames)), config.num_bins))
    paths = [str(out / "audio" / f"{u}.flac") for u in ids]
    for i, f in enumerate(_map(_features_one, paths, workers, "features", ordered=True, min_parallel=500)):
        if f.shape[0] != frames[i]:
            raise RuntimeError(f"{ids[i]}: {f.shape[0]} frames, expected {frames[i]}")
        arr[index["offsets"][i]: index["offsets"][i] + frames[i]] = f
    arr.flush()
    del arr
    os.replace(tmp, feats_path)
    _write_json(index_path, index)


def build_corpus(name: str, split: str, n: int, seed: int | None = None, workers: int = 2, *,
                 augment: AugmentConfig | None = None, features: bool = True, requests: Sequence | None = None):
    """Synthesize ``n`` requests of ``split`` (from ``edgeasr.train.text.generate_requests``) with the split's voices
    into ``corpus_dir(name, split)``; returns the lhotse CutSet.

    Voices come round-robin from ``voices_for(split)``; each utterance's randomness is seeded by (seed, name, split,
    uid), so a rebuild gives the same corpus and renders only what is missing. ``requests`` (objects with uid, text,
    kind and names) replaces the generator, and then ``n`` must equal its length. ``features`` also writes
    feats.npy (see the module doc). Utterances that fail to render are listed in failures.jsonl and left out;
    RuntimeError if more than 1% fail. A name in ``RECIPES`` takes its seed (unless ``seed`` is given), request mix,
    voice set and augmentation (unless ``augment`` is given) from there; other names build like v1.
    """
    recipe = RECIPES.get(name, Recipe())
    seed = recipe.seed if seed is None else seed
    augment = AUGMENTS[recipe.augment]() if augment is None else augment
    out = corpus_dir(name, split)
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    if workers < 0:
        raise ValueError(f"workers: must be >= 0, got {workers}")
    augment.validate()
    if requests is None:
        from edgeasr.train.text import generate_requests

        requests = generate_requests(split, n, seed=seed, kind_weights=dict(recipe.kind_weights))
    if len(requests) != n:
        raise ValueError(f"requests: {len(requests)} given, n = {n}")
    uids = [r.uid for r in requests]
    bad = [u for u in uids if not _UID.fullmatch(u)]
    if bad:
        raise ValueError(f"requests: uids must be file-name safe, got {bad[:3]}")
    if len(set(uids)) != len(uids):
        raise ValueError("requests: uids are not unique")

    voices = voices_for(split, extended=recipe.extended_voices)
    assigned = assign_voices(uids, voices, seed=_utterance_seed(name, split, seed, "<voices>"))
    (out / "audio").mkdir(parents=True, exist_ok=True)
    jobs = [_Job(r.uid, r.text, r.kind, tuple(r.names), v, _utterance_seed(name, split, seed, r.uid), augment,
                 str(out / "audio")) for r, v in zip(requests, assigned)]

    t0 = time.perf_counter()
    by_uid, failures = {}, []
    for rec in _map(_render_one, jobs, workers, f"{name}/{split}"):
        if "failed" in rec:
            failures.append(rec)
        else:
            by_uid[rec["uid"]] = rec
    wall = time.perf_counter() - t0
    records = [by_uid[u] for u in uids if u in by_uid]
    rendered = [r for r in records if not r["cached"]]
    audio_s = sum(r["num_samples"] / r["sample_rate"] for r in rendered)
    with open(out / "build_log.jsonl", "a", encoding="utf-8") as log:  # one line per build run
        log.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "rendered": len(rendered),
                              "cached": len(records) - len(rendered), "failed": len(failures), "wall_s": wall,
                              "rendered_audio_s": audio_s, "workers": workers}) + "\n")
    print(f"{name}/{split}: {len(rendered)} rendered, {len(records) - len(rendered)} cached, {len(failures)} failed "
          f"in {wall:.1f} s; {len(rendered) / max(wall, 1e-9):.2f} utt/s, "
          f"{audio_s / max(wall, 1e-9):.2f} audio s per wall s", file=sys.stderr)
    tmp = _atomic_path(out / "failures.jsonl")
    tmp.write_text("".join(json.dumps(f) + "\n" for f in failures), encoding="utf-8")
    os.replace(tmp, out / "failures.jsonl")
    if len(failures) > 0.01 * n:
        raise RuntimeError(f"{len(failures)} of {n} utterances failed to render; see {out / 'failures.jsonl'}")

    cuts = _write_manifests(out, records)
    if features:
        t1 = time.perf_counter()
        _write_features(out, records, workers)
        print(f"{name}/{split}: features in {time.perf_counter() - t1:.1f} s", file=sys.stderr)
    return cuts


def load_cuts(name: str, split: str):
    """The lhotse CutSet of a built corpus."""
    from lhotse import CutSet

    path = corpus_dir(name, split) / "cuts.jsonl.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not built; python -m edgeasr.train.corpus --name {name} --split {split}")
    return CutSet.from_file(path)


class CorpusFeatures:
    """The precomputed fbank frames of a built corpus split, memory-mapped: ``feats[uid]`` is float32 [T, bins]."""

    def __init__(self, name: str, split: str):
        d = corpus_dir(name, split)
        index_path = d / "feats_index.json"
        if not index_path.exists():
            raise FileNotFoundError(f"{index_path}: features not built; rerun build_corpus with features=True")
        index = json.loads(index_path.read_text(encoding="utf-8"))
        self.config = FbankConfig(**index["config"])
        self.ids: list[str] = index["ids"]
        self._where = {u: (o, t) for u, o, t in zip(self.ids, index["offsets"], index["num_frames"])}
        self.array = np.load(d / "feats.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, uid: str) -> bool:
        return uid in self._where

    def num_frames(self, uid: str) -> int:
        return self._where[uid][1]

    def __getitem__(self, uid: str) -> np.ndarray:
        o, t = self._where[uid]
        return self.array[o: o + t]


def load_features(name: str, split: str) -> CorpusFeatures:
    return CorpusFeatures(name, split)


def phrase_requests(path: Path, name: str, split: str, n: int, seed: int) -> list:
    """``n`` requests, each one of the phrases in ``path`` (one per line; blank lines and # comments skipped), drawn
    uniformly with a generator seeded by (name, split, seed)."""
    import random

    from edgeasr.cli import read_grammar_file
    from edgeasr.train.text import Request

    phrases = read_grammar_file(path)
    bad = [p for p in phrases if not re.fullmatch(r"[a-z']+( [a-z']+)*", p)]
    if not phrases or bad:
        raise ValueError(f"{path}: phrases must be lowercase words separated by single spaces; got "
                         f"{bad[:3] or 'none'}")
    rng = random.Random(f"edgeasr.corpus/phrases/{name}/{split}/{seed}")
    return [Request(f"{split}-{i:06d}", rng.choice(phrases), "command", ()) for i in range(n)]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Synthesize a corpus split into the edgeasr cache (rendering only what "
                                "is missing) and write its lhotse manifests and features.")
    p.add_argument("--name", required=True, help="corpus name, e.g. v1")
    p.add_argument("--split", required=True, choices=SPLITS)
    p.add_argument("--n", type=int, required=True, help="number of requests")
    p.add_argument("--seed", type=int, default=None, help="default: the recipe's (RECIPES), else 0")
    p.add_argument("--workers", type=int, default=2, help="rendering processes (0 or 1: in this process)")
    p.add_argument("--augment", choices=tuple(AUGMENTS), default=None,
                   help="default: AugmentConfig(); none: clean speech at default prosody; hard: AugmentConfig.hard() "
                   "(without it: the recipe's, RECIPES, else default)")
    p.add_argument("--no-features", action="store_true", help="skip feats.npy")
    p.add_argument("--phrases", type=Path, default=None,
                   help="render these phrases (one per line, # comments; each request draws one, seeded) instead of "
                   "the text generator's requests: a command-and-control set such as bench/data/commands.txt")
    a = p.parse_args(argv)
    augment = AUGMENTS[a.augment]() if a.augment else None  # None: the recipe's (build_corpus)
    requests = phrase_requests(a.phrases, a.name, a.split, a.n, a.seed or 0) if a.phrases else None
    cuts = build_corpus(a.name, a.split, a.n, a.seed, a.workers, augment=augment, features=not a.no_features,
                        requests=requests)
    print(f"{corpus_dir(a.name, a.split)}: {len(cuts)} cuts")


if __name__ == "__main__":
    main()
