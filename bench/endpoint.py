"""End-pointing, side by side: edgeasr's speculative and final end-pointers, sherpa-onnx's endpoint rules (same
weights), silero-vad and webrtcvad, on the held-out test split and on real speech (PocketSphinx's LibriVox clips).

    python bench/endpoint.py                    # test split (1,200 clips) + LibriVox: bench/results/endpoint.*
    python bench/endpoint.py --limit 200        # fewer clips (evenly over the voices)
    python bench/endpoint.py --tune             # dev split only: grid over our settings -> endpoint.tune.json
    python bench/endpoint.py --feed-ms 40 --out bench/results/endpoint-feed40   # 40 ms pieces, as the defaults
                                                # were tuned (--tune --corpus v1hard --feed-ms 40 [--lm])
    python bench/endpoint.py --tune --completeness FILE   # the same with another sentence-completeness table
    python bench/endpoint.py --split dev        # the report on the dev split instead -> endpoint-dev.*
    python bench/endpoint.py --checkpoint CKPT [--model FILE]   # a newer model (see below)

Models: the checkpoint (default: the one the bundled model was exported from, as bench/e2e.py) is exported once, as
bench/e2e.py does (its prepare_models, same cache), into an edgeasr int8 model file and sherpa-onnx int8 files of the
same weights. ``--model`` replaces the edgeasr model file only (sherpa-onnx then still runs the checkpoint).

Audio: each clip is fed in chunks of 160 ms (``--feed-ms``; 40 ms is one step of our encoder) to every system, as
a microphone would deliver it; an end-pointer's time is the end of the chunk after which it fired, and its latency is
that time minus the true end of speech (the corpus's ``speech_end``; the last word's end in LibriVox's alignment). A
**cut-off** is an end-point before the true end of speech; latencies are over the end-points that are not cut-offs,
and clips with no end-point at all are counted as misses. The corpus's trailing silences are only 0.3-1.5 s, so each
clip is extended at its end with more of its own background until 3 s follow the end of speech: the quietest 100 ms (by
mean square, in 10 ms hops) of its leading non-speech (up to 30 ms before speech starts: the clip's noise without a
reverberation tail) and its trailing non-speech (from 0.25 s after the end of speech, or 0.1 s when the clip ends
sooner) is appended again and again, alternately reversed and forward (a reflection, so there is no jump at the
joins). The noise level and colour stay the clip's own; LibriVox's short silences also hold breaths and mouth
sounds, which would otherwise recur every few hundred ms.

Systems (all at their usual settings; the sweeps show each one's trade-off between latency and cut-offs):
  edgeasr        EndpointingStream with the default speculative and final configs for its search (edgeasr.endpoint),
                 modified beam search at the recognizer's default beam (16; --beam), encoder chunks of 4 feature
                 frames (40 ms: the LSTM encoder is exact in any chunking, so this changes when steps are ready,
                 not what they are; the feed is the same); sweep: the
                 final end-pointer's two timeouts scaled together, replayed on recorded per-step signals with the
                 rules of the Endpointer class (checked against the live stream at the defaults), and the final
                 end-pointer with ``gap_factor`` 1, 1.5, 2 (EndpointConfig: wait longer than the utterance's gaps,
                 off by default); the words the
                 no_speech rule dropped before the first final end-point are kept per clip ("dropped"), and those
                 that lay between the true start and end of speech ("lost": spoken words the stream lost) are
                 counted ("clips_losing_words"); --presence-margin-db 9 gives the rule before it had its own margin
  sherpa-onnx    OnlineRecognizer, modified_beam_search (4 paths), enable_endpoint_detection with its default rules
                 (rule1 2.4 s trailing silence with nothing decoded, rule2 1.2 s after something decoded, rule3 20 s);
                 sweep: rule2's trailing silence
  silero-vad     the pip package's model and VADIterator (threshold 0.5, min_silence_duration_ms 100, speech_pad_ms
                 30, 512-sample windows): the end-point is its first "end" after a "start"; sweep: min_silence
  webrtcvad      mode 3, 30 ms frames, py-webrtcvad's example rule (a 300 ms ring of frames: triggered when more than
                 90 % are voiced, ended when more than 90 % are unvoiced); sweep: the ring's length

Tuning (--tune) uses only a dev split (training voices; the defaults come from ``--tune --corpus v1hard``, the dev
requests under harsher conditions, see python/edgeasr/endpoint/config.py); the reported figures come from the test
split (held-out voices) and LibriVox (real people, evaluation only) with those defaults.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import gzip  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import numpy as np  # noqa: E402

from edgeasr.endpoint.endpointer import PEAK_DECAY_DB_PER_S, gap_wait_steps  # noqa: E402
from e2e import DEFAULT_CACHE, BenchError, prepare_models, resolve_checkpoint  # noqa: E402
from e2e import even_over_voices as e2e_even_over_voices  # noqa: E402
from machine import cpu_description, git_revision, package_versions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
LIBRIVOX = REPO.parent / "shared" / "data" / "pocketsphinx-test" / "librivox"
RATE = 16000
CHUNK = 2560                 # the feed: 160 ms at 16 kHz (main() sets it from --feed-ms)
TRAILING_S = 3.0             # end of speech to end of the extended clip
SKIP_TAIL_S = 0.25           # reverberation tail after the end of speech, not repeated
LEAD_GUARD_S = 0.03          # leading non-speech used up to this before the start of speech
BACKGROUND_S = 0.1           # the piece of background that is repeated
PAUSE_LIMIT_S = 0.5          # the subset the targets speak of: internal pauses up to 500 ms

SHERPA_RULE2 = [0.3, 0.5, 0.8, 1.2]
SILERO_MIN_SILENCE_MS = [100, 300, 500, 800]
WEBRTC_RING_MS = [300, 510, 810]
# --tune: the long-utterance rule's (long_utterance_s, long_timeout_s); the first one leaves it off
LONG_GRID = [(15.0, 0.8)] + list(itertools.product([1.5, 2.0, 2.5, 3.0], [0.28, 0.36, 0.44]))
OUR_SWEEP = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0]  # the final end-pointer's two timeouts, times these factors
GAP_SWEEP = (1.0, 1.5, 2.0)   # gap_factor of the final end-pointer (EndpointConfig), other settings as they are


# ---------------------------------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Clip:
    uid: str
    source: str              # "v1/test", "v1/dev" or "librivox"
    path: str
    text: str
    voice: str
    speech_start: float
    speech_end: float
    max_pause: float         # longest internal pause (s), 0 without pauses
    samples: Optional[np.ndarray] = field(default=None, repr=False)


def load_corpus(corpus: str, split: str) -> list[Clip]:
    from edgeasr.train.corpus import corpus_dir

    folder = corpus_dir(corpus, split)
    manifest = folder / "cuts.jsonl.gz"
    if not manifest.is_file():
        raise BenchError(f"corpus {corpus}/{split} is not built ({folder}); see scripts/build_corpora.sh")
    clips = []
    with gzip.open(manifest, "rt", encoding="utf-8") as f:
        for line in f:
            cut = json.loads(line)
            sup = cut["supervisions"][0]
            custom = sup["custom"]
            pauses = [p["end"] - p["start"] for p in custom.get("pauses", [])]
            clips.append(Clip(cut["id"], f"{corpus}/{split}", str(folder / "audio" / f"{cut['id']}.flac"), sup["text"],
                              sup["speaker"], custom["speech_start"], custom["speech_end"], max(pauses, default=0.0)))
    return clips


def load_librivox(folder: Path) -> list[Clip]:
    clips = []
    for j in sorted(folder.glob("*.json")):
        if j.name.endswith((".phone.json", ".state.json")) or not j.with_suffix(".wav").is_file():
            continue
        d = json.loads(j.read_text())
        words = [w for w in d["w"] if not w["t"].startswith("<") and not w["t"].startswith("[")]
        gaps = [b["b"] - (a["b"] + a["d"]) for a, b in zip(words, words[1:])]
        clips.append(Clip(j.stem, "librivox", str(j.with_suffix(".wav")), d["t"], "librivox",
                          words[0]["b"], words[-1]["b"] + words[-1]["d"], max(gaps, default=0.0)))
    if not clips:
        raise BenchError(f"no LibriVox clips with alignments in {folder}")
    return clips


def even_over_voices(clips: list[Clip], limit: int) -> list[Clip]:
    """bench/e2e.py's choice of ``limit`` clips evenly over the voices."""
    chosen = {d["uid"] for d in e2e_even_over_voices([{"uid": c.uid, "voice": c.voice} for c in clips], limit)}
    return [c for c in clips if c.uid in chosen]


def quietest_background(samples: np.ndarray, speech_start: float, speech_end: float) -> np.ndarray:
    """The clip's own background to repeat: its quietest ``BACKGROUND_S`` (by mean square, in 10 ms hops) of the
    non-speech before ``speech_start`` (less ``LEAD_GUARD_S``) and after ``speech_end`` (from ``SKIP_TAIL_S`` on, or
    0.1 s when the clip ends sooner)."""
    lead = samples[:max(0, int(round((speech_start - LEAD_GUARD_S) * RATE)))]
    tail_start = speech_end + (SKIP_TAIL_S if samples.size / RATE - speech_end >= SKIP_TAIL_S + 0.1 else 0.1)
    tail = samples[min(samples.size, int(round(tail_start * RATE))):]
    win, hop = int(BACKGROUND_S * RATE), int(0.01 * RATE)
    windows = [r[i:i + win] for r in (lead, tail) for i in range(0, r.size - win + 1, hop)]
    if not windows:
        raise BenchError(f"clip with {lead.size} + {tail.size} samples of background: cannot extend it")
    return min(windows, key=lambda r: float(np.mean(np.square(r, dtype=np.float64))))


def reflected(piece: np.ndarray, n: int) -> np.ndarray:
    """``n`` samples of ``piece`` repeated alternately reversed and forward (a reflection: no jump at the joins)."""
    pieces, total, forward = [], 0, False
    while total < n:
        pieces.append(piece if forward else piece[::-1])
        total += piece.size
        forward = not forward
    return np.concatenate(pieces)[:n].astype(np.float32) if pieces else np.zeros(0, np.float32)


def extend_with_background(samples: np.ndarray, speech_start: float, speech_end: float,
                           trailing_s: float = TRAILING_S) -> np.ndarray:
    """The clip with its own background appended until ``trailing_s`` follow the end of speech (module docstring)."""
    need = int(round((speech_end + trailing_s) * RATE)) - samples.size
    if need <= 0:
        return samples
    return np.concatenate([samples, reflected(quietest_background(samples, speech_start, speech_end), need)])


def read_clips(clips: list[Clip]) -> None:
    import soundfile as sf

    for c in clips:
        x, rate = sf.read(c.path, dtype="float32", always_2d=False)
        if rate != RATE or x.ndim != 1:
            raise BenchError(f"{c.path}: {rate} Hz, shape {x.shape}; expected {RATE} Hz mono")
        c.samples = extend_with_background(x, c.speech_start, c.speech_end)


def chunks(x: np.ndarray):
    for i in range(0, x.size, CHUNK):
        yield (i + min(CHUNK, x.size - i)) / RATE, x[i:i + CHUNK]


# ---------------------------------------------------------------------------------------------------------------
# edgeasr: the live stream, and recorded signals for replays
# ---------------------------------------------------------------------------------------------------------------

def ours_fuse_lm(rec) -> bool:
    """--lm: our streams fuse the LM, also those with --grammar (which by default decode without it)."""
    return rec.lm is not None


def run_ours_live(rec, clips: list[Clip], spec_cfg, final_cfg, **stream_options) -> list[dict]:
    from edgeasr.endpoint import EndpointingStream, FinalEndpoint, Reset, SpeculativeEndpoint

    rows = []
    for c in clips:
        row = {"uid": c.uid, "spec": None, "final": None, "confirmed": None, "reset": False, "text": None,
               "rule": None, "speech_end_estimate": None, "dropped": [], "lost": []}

        def on_drop(t, result, row=row, c=c):
            """Words the no_speech rule dropped; those said between the true start and end of speech were lost."""
            words = [w.word for w in result.words]
            row["dropped"].append([round(t, 3), " ".join(words)])
            row["lost"] += [w.word for w in result.words if w.end > c.speech_start and w.start < c.speech_end]

        s = EndpointingStream(rec, speculative=spec_cfg, final=final_cfg, on_drop=on_drop,
                              chunk_frames=rec.config.chunk_frames, lm=ours_fuse_lm(rec),
                              **stream_options)  # --chunk-frames decides
        for t, chunk in chunks(c.samples):
            for ev in s.accept_waveform(chunk, RATE):  # seen at the end of the chunk, t
                if ev.utterance != 0:
                    continue
                if isinstance(ev, SpeculativeEndpoint):
                    row["spec"] = t
                elif isinstance(ev, FinalEndpoint):
                    row["final"], row["confirmed"], row["text"], row["rule"] = t, ev.confirmed, ev.result.text, ev.rule
                    row["speech_end_estimate"] = ev.speech_end
                elif isinstance(ev, Reset):
                    row["reset"] = True
            if row["final"] is not None:
                break
        rows.append(row)
    return rows


def record_traces(rec, clips: list[Clip], completeness, grammar=None) -> list[dict]:
    """Per clip, the per-step signals and, after each chunk, the steps decoded and the completeness of the words:
    what the end-pointers see, for replays. (Without biasing phrases, settle() changes nothing, so one plain pass
    gives the signals every setting sees until its final end-point.)"""
    from edgeasr.endpoint import NoiseFloor, StepEnergy

    traces = []
    step = rec.seconds_per_step
    piece = int(round(rec.config.chunk_frames * rec.model.frame_shift_ms / 1000.0 * RATE))
    for c in clips:
        stream = rec.create_stream(grammar=grammar, lm=ours_fuse_lm(rec))
        energy, floor = StepEnergy(step), NoiseFloor(step)
        e_all, f_all, times, steps, p_end, has_words = [], [], [], [], [], []
        for t, chunk in chunks(c.samples):
            for i in range(0, chunk.size, piece):  # as EndpointingStream feeds and decides: one encoder chunk
                part = chunk[i:i + piece]
                stream.accept_waveform(part, RATE)
                e = energy.accept(part, RATE)
                e_all += e.tolist()
                f_all += floor.update(e).tolist()
                words = [w.word for w in stream.result().words]
                times.append(t)  # a decision here is seen at the end of the chunk
                steps.append(stream.num_frames)
                p_end.append(completeness.p_end(words))
                has_words.append(bool(words))
        sig = stream.frame_signals()
        n = len(sig["blank_logprob"])
        traces.append({"step": step, "blank": np.asarray(sig["blank_logprob"], np.float64),
                       "tb": np.asarray(sig["trailing_blank_frames"]),
                       "energy": np.asarray(e_all[:n]), "floor": np.asarray(f_all[:n]), "times": np.asarray(times),
                       "steps": np.asarray(steps), "p_end": np.asarray(p_end), "has_words": np.asarray(has_words)})
    return traces


def speech_state(trace: dict, cfg) -> dict:
    """Per step, as edgeasr.endpoint.Endpointer judges it with ``cfg``: the last speech step so far, the steps loud
    enough for the presence test (no_speech rule) so far, the first speech step."""
    blank, tb, e, f = trace["blank"], trace["tb"], trace["energy"], trace["floor"]
    decay = PEAK_DECAY_DB_PER_S * trace["step"]   # peak_k = max_j (e_j - decay (k - j))
    k = np.arange(e.size)
    peak = np.maximum.accumulate(e + decay * k) - decay * k
    loud = (e > f + cfg.energy_margin_db) & (e > peak - cfg.dynamic_range_db)
    present = (e > f + cfg.presence_margin_db) & (e > peak - cfg.dynamic_range_db)
    log_thr = math.log(cfg.blank_threshold) if cfg.blank_threshold > 0 else -math.inf
    speech = (tb == 0) | (blank < log_thr) | loud
    last = np.maximum.accumulate(np.where(speech, np.arange(blank.size), -1))
    # The longest run of non-speech between two speech steps up to each step (Endpointer.longest_gap).
    idx = np.flatnonzero(speech)
    gap = np.zeros(blank.size, dtype=np.int64)
    if idx.size > 1:
        gap[idx[1:]] = np.maximum.accumulate(np.diff(idx) - 1)
        gap = np.maximum.accumulate(gap)
    return {"last": last, "cum_present": np.cumsum(present), "first": int(np.argmax(speech)) if speech.any() else None,
            "gap": gap}


def replay(trace: dict, cfg, step: float, state: Optional[dict] = None) -> Optional[float]:
    """When an end-pointer with ``cfg`` first fires on a recorded trace: the rules of edgeasr.endpoint.Endpointer,
    vectorized over the chunks (the no_speech rule, which resets the search, counts as not firing). Returns the end
    time of the chunk after which it fired, or None."""
    if trace["blank"].size == 0:
        return None
    st = state if state is not None else speech_state(trace, cfg)
    ceil_steps = lambda s: max(1, math.ceil(s / step - 1e-6))  # noqa: E731
    n = trace["steps"]
    ok = (n > 0) & trace["has_words"]
    m = np.maximum(n - 1, 0)
    trailing = n - 1 - st["last"][m]
    loud_enough = st["cum_present"][m] >= math.ceil(cfg.min_speech_s / step - 1e-6)
    gap_wait = gap_wait_steps(cfg, st["gap"][m], step)
    max_reached = (n - st["first"] >= ceil_steps(cfg.max_utterance_s)) if st["first"] is not None else False
    long_done = ((st["last"][m] - st["first"] + 1 >= ceil_steps(cfg.long_utterance_s))
                 & (trailing >= np.maximum(ceil_steps(cfg.long_timeout_s), gap_wait))) \
        if st["first"] is not None else False
    fire = ok & loud_enough & (max_reached | long_done | (trailing >= ceil_steps(cfg.incomplete_timeout_s)) |
                               ((trailing >= np.maximum(ceil_steps(cfg.complete_timeout_s), gap_wait))
                                & (trace["p_end"] >= cfg.complete_threshold)))
    hits = np.flatnonzero(fire)
    return float(trace["times"][hits[0]]) if hits.size else None


# ---------------------------------------------------------------------------------------------------------------
# Peers
# ---------------------------------------------------------------------------------------------------------------

def run_sherpa(models: dict, clips: list[Clip], rule2: float, beam: int = 4) -> list[Optional[float]]:
    import sherpa_onnx

    kwargs = dict(models["sherpa"]["int8"])
    kwargs.update(num_threads=1, provider="cpu", decoding_method="modified_beam_search", max_active_paths=beam,
                  enable_endpoint_detection=True, rule2_min_trailing_silence=rule2)
    rec = sherpa_onnx.OnlineRecognizer.from_transducer(**kwargs)
    out = []
    for c in clips:
        s = rec.create_stream()
        fired = None
        for t, chunk in chunks(c.samples):
            s.accept_waveform(RATE, chunk)
            while rec.is_ready(s):
                rec.decode_stream(s)
            if rec.is_endpoint(s):
                fired = t
                break
        out.append(fired)
    return out


class _ReplayedProbs:
    """Stands in for silero's model inside VADIterator: hands back the probabilities the real model computed."""

    def __init__(self, probs):
        self.probs, self.i = probs, 0

    def __call__(self, x, sr):
        import torch

        p = self.probs[self.i]
        self.i += 1
        return torch.tensor(p)

    def reset_states(self):
        self.i = 0


def silero_probs(clips: list[Clip]) -> list[list[float]]:
    import torch
    from silero_vad import load_silero_vad

    torch.set_num_threads(1)
    model = load_silero_vad()
    out = []
    with torch.no_grad():
        for c in clips:
            model.reset_states()
            x = torch.from_numpy(c.samples)
            out.append([model(x[i:i + 512], RATE).item() for i in range(0, c.samples.size - 511, 512)])
    return out


def run_silero(probs: list[list[float]], min_silence_ms: int) -> list[Optional[float]]:
    import torch
    from silero_vad import VADIterator

    out = []
    window = torch.zeros(512)
    for p in probs:
        it = VADIterator(_ReplayedProbs(p), threshold=0.5, sampling_rate=RATE, min_silence_duration_ms=min_silence_ms,
                         speech_pad_ms=30)
        fired, started = None, False
        for k in range(len(p)):
            r = it(window)
            if r and "start" in r:
                started = True
            elif r and "end" in r and started:
                fired = math.ceil((k + 1) * 512 / CHUNK) * CHUNK / RATE
                break
        out.append(fired)
    return out


def webrtc_flags(clips: list[Clip], mode: int = 3) -> list[list[bool]]:
    import webrtcvad

    vad = webrtcvad.Vad(mode)
    out = []
    for c in clips:
        pcm = (np.clip(c.samples, -1, 1) * 32767).astype(np.int16).tobytes()
        out.append([vad.is_speech(pcm[i:i + 960], RATE) for i in range(0, len(pcm) - 959, 960)])
    return out


def run_webrtc(flags: list[list[bool]], ring_ms: int, ratio: float = 0.9) -> list[Optional[float]]:
    n = ring_ms // 30
    out = []
    for fl in flags:
        ring: list[bool] = []
        triggered, fired = False, None
        for k, voiced in enumerate(fl):
            ring = (ring + [voiced])[-n:]
            if not triggered and len(ring) == n and sum(ring) > ratio * n:
                triggered, ring = True, []
            elif triggered and len(ring) == n and n - sum(ring) > ratio * n:
                fired = math.ceil((k + 1) * 480 / CHUNK) * CHUNK / RATE
                break
        out.append(fired)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------------

def endpoint_metrics(clips: list[Clip], fired: list[Optional[float]]) -> dict:
    lat, cut, miss = [], 0, 0
    for c, t in zip(clips, fired):
        if t is None:
            miss += 1
        elif t < c.speech_end:
            cut += 1
        else:
            lat.append(1000.0 * (t - c.speech_end))
    n = len(clips)
    return {"clips": n, "cutoff_rate": cut / n if n else None, "miss_rate": miss / n if n else None,
            "latency_median_ms": float(np.median(lat)) if lat else None,
            "latency_p90_ms": float(np.percentile(lat, 90)) if lat else None}


def protocol_metrics(clips: list[Clip], rows: list[dict]) -> dict:
    """Speculative + final: revisions, premature speculative end-points and their recovery, the lead."""
    premature = [(c, r) for c, r in zip(clips, rows) if r["spec"] is not None and r["spec"] < c.speech_end]
    recovered = [r for _, r in premature if r["final"] is not None and r["confirmed"] is False and r["reset"]]
    # A final end-point that is itself a cut-off cannot know better: it is counted in the final's cut-off rate.
    recoverable = [r for c, r in premature if r["final"] is not None and r["final"] >= c.speech_end]
    recovered_of_recoverable = [r for r in recoverable if r["confirmed"] is False and r["reset"]]
    # The recoverable ones the final confirmed: by EndpointingStream's rule their best path's words and token times
    # were the speculative ones and no likely word followed them. How far before the true end they fired:
    unrevised_early_ms = sorted(1000.0 * (c.speech_end - r["spec"]) for c, r in premature
                                if r["final"] is not None and r["final"] >= c.speech_end and r["confirmed"] is True)
    finals = [r for r in rows if r["final"] is not None]
    # Revisions the device sent although the speculative end-point was not premature (needless ones).
    correct = [r for c, r in zip(clips, rows) if r["final"] is not None and r["spec"] is not None
               and r["spec"] >= c.speech_end]
    needless = sum(r["confirmed"] is False for r in correct)
    leads = [1000.0 * (r["final"] - r["spec"]) for r in finals if r["spec"] is not None]
    rules = {}  # the final end-pointer's rule that fired: how often, its latency and cut-offs
    for c, r in zip(clips, rows):
        if r["final"] is not None:
            rules.setdefault(r.get("rule") or "?", []).append(r["final"] - c.speech_end)
    by_rule = {k: {"clips": len(v), "cutoffs": sum(x < 0 for x in v),
                   "latency_median_ms": float(np.median([1000 * x for x in v if x >= 0])) if any(x >= 0 for x in v)
                   else None} for k, v in sorted(rules.items())}
    # Latency = (the final end-pointer's estimate of the end of speech - the true end) + (its fire time - that
    # estimate): how well it finds the end, and how long it waits after it (trailing timeout + the feed's chunking).
    est = [(1000 * (r["speech_end_estimate"] - c.speech_end), 1000 * (r["final"] - r["speech_end_estimate"]))
           for c, r in zip(clips, rows) if r["final"] is not None and r["final"] >= c.speech_end
           and r.get("speech_end_estimate") is not None]
    pct = lambda v: {"p10": float(np.percentile(v, 10)), "median": float(np.median(v)),  # noqa: E731
                     "p90": float(np.percentile(v, 90))} if v else None
    return {"final_rules": by_rule, "speech_end_error_ms": pct([e for e, _ in est]),
            "fire_after_estimate_ms": pct([w for _, w in est]),
            "revision_rate": sum(r["confirmed"] is False for r in finals) / len(finals) if finals else None,
            "premature_speculative": len(premature), "premature_recovered": len(recovered),
            "premature_recovered_rate": len(recovered) / len(premature) if premature else None,
            "premature_with_final_after_speech": len(recoverable),
            "premature_with_final_after_speech_recovered": len(recovered_of_recoverable),
            "premature_with_final_after_speech_recovered_rate":
                len(recovered_of_recoverable) / len(recoverable) if recoverable else None,
            "premature_unrevised_early_ms": unrevised_early_ms,
            "lead_median_ms": float(np.median(leads)) if leads else None,
            "correct_speculative": len(correct), "correct_speculative_revised": needless,
            "correct_speculative_revised_rate": needless / len(correct) if correct else None,
            "resets_without_reset_event": sum(r["confirmed"] is False and not r["reset"] for r in finals),
            # Utterances the no_speech rule dropped (words judged to come from noise) before the first final
            # end-point, and the clips where some dropped word lay between the true start and end of speech: words
            # the user said and the stream lost.
            "dropped_utterances": sum(len(r.get("dropped", [])) for r in rows),
            "clips_losing_words": sum(bool(r.get("lost")) for r in rows),
            "clips_losing_words_uids": [r["uid"] for r in rows if r.get("lost")]}


def subsets(clips: list[Clip]) -> dict[str, list[int]]:
    short = [i for i, c in enumerate(clips) if c.max_pause <= PAUSE_LIMIT_S]
    return {f"pauses <= {int(PAUSE_LIMIT_S * 1000)} ms": short,
            "all": list(range(len(clips)))}


def pick(seq, idx):
    return [seq[i] for i in idx]


# ---------------------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------------------

def evaluate_all(rec, models: dict, clips: list[Clip], spec_cfg, final_cfg, sweeps: bool, log,
                 completeness, grammar=None) -> dict:
    """Every system on ``clips``; returns per-system fire times (and our protocol rows). ``grammar``: our streams
    decode with it (the peers know nothing of it)."""
    out: dict = {"fired": {}, "sweeps": {}}
    t0 = time.perf_counter()
    rows = run_ours_live(rec, clips, spec_cfg, final_cfg, completeness=completeness, grammar=grammar)
    out["ours_rows"] = rows
    out["fired"]["edgeasr speculative"] = [r["spec"] for r in rows]
    out["fired"]["edgeasr final"] = [r["final"] for r in rows]
    log(f"edgeasr live: {time.perf_counter() - t0:.0f} s")
    if sweeps:
        t0 = time.perf_counter()
        traces = record_traces(rec, clips, completeness, grammar)
        replayed = [replay(tr, final_cfg, rec.seconds_per_step) for tr in traces]
        out["replay_mismatches"] = sum(a != b for a, b in zip(replayed, out["fired"]["edgeasr final"]))
        for factor in OUR_SWEEP:
            complete = round(final_cfg.complete_timeout_s * factor, 3)
            incomplete = round(final_cfg.incomplete_timeout_s * factor, 3)
            cfg = dataclasses.replace(final_cfg, complete_timeout_s=complete, incomplete_timeout_s=incomplete)
            out["sweeps"].setdefault("edgeasr final", []).append(
                ({"complete_timeout_s": complete, "incomplete_timeout_s": incomplete},
                 [replay(tr, cfg, rec.seconds_per_step) for tr in traces]))
        for factor in GAP_SWEEP:   # the option off by default: wait longer than the utterance's own gaps
            cfg = dataclasses.replace(final_cfg, gap_factor=factor)
            out["sweeps"].setdefault("edgeasr final + gap", []).append(
                ({"gap_factor": factor, "gap_margin_s": cfg.gap_margin_s},
                 [replay(tr, cfg, rec.seconds_per_step) for tr in traces]))
        # The replay of the option checked against the live stream at its largest factor.
        gap_cfg = dataclasses.replace(final_cfg, gap_factor=GAP_SWEEP[-1])
        live = [r["final"] for r in run_ours_live(rec, clips, spec_cfg, gap_cfg, completeness=completeness,
                                                  grammar=grammar)]
        out["replay_mismatches_gap"] = sum(a != b for a, b in zip(out["sweeps"]["edgeasr final + gap"][-1][1], live))
        log(f"edgeasr traces and sweep: {time.perf_counter() - t0:.0f} s")
    peers = [("sherpa-onnx", "sherpa-onnx (defaults)", "rule2_min_trailing_silence", SHERPA_RULE2, 1.2,
              lambda: None, lambda _, v: run_sherpa(models, clips, v)),
             ("silero-vad", "silero-vad (defaults)", "min_silence_duration_ms", SILERO_MIN_SILENCE_MS, 100,
              lambda: silero_probs(clips), run_silero),
             ("webrtcvad", "webrtcvad (mode 3, 300 ms ring)", "ring_ms", WEBRTC_RING_MS, 300,
              lambda: webrtc_flags(clips), run_webrtc)]
    for name, label, key, settings, default, prepare, fire_times in peers:
        t0 = time.perf_counter()
        prepared = prepare()  # what does not depend on the setting (silero's probabilities, webrtcvad's flags)
        for value in (settings if sweeps else [default]):
            fired = fire_times(prepared, value)
            if value == default:
                out["fired"][label] = fired
            out["sweeps"].setdefault(name, []).append(({key: value}, fired))
        log(f"{name}: {time.perf_counter() - t0:.0f} s")
    return out


def summarize(clips: list[Clip], run: dict) -> dict:
    summary: dict = {}
    for name, idx in subsets(clips).items():
        sub = pick(clips, idx)
        s = {"systems": {k: endpoint_metrics(sub, pick(v, idx)) for k, v in run["fired"].items()},
             "protocol": protocol_metrics(sub, pick(run["ours_rows"], idx)),
             "sweeps": {k: [{"setting": setting, **endpoint_metrics(sub, pick(f, idx))} for setting, f in v]
                        for k, v in run["sweeps"].items()}}
        summary[name] = s
    return summary


def silences(traces: list[dict], clips: list[Clip], cfg) -> dict:
    """Runs of >= 160 ms of non-speech (as an end-pointer with ``cfg`` judges the steps) after an utterance's first
    speech step: those that speech followed before the true end (pauses) against the one holding the end, with how
    far into the utterance (from its first speech step) each began. What a timeout must tell apart."""
    pauses, ends = [], []
    for tr, c in zip(traces, clips):
        st = speech_state(tr, cfg)
        if st["first"] is None:
            continue
        step = tr["step"]
        speech = st["last"] == np.arange(st["last"].size)   # the step is speech
        k = st["first"]
        while k < speech.size:
            if speech[k]:
                k += 1
                continue
            j = k
            while j < speech.size and not speech[j]:
                j += 1
            if (j - k) * step >= 0.16 - 1e-9:
                into = (k - st["first"]) * step
                if j < speech.size and j * step < c.speech_end:
                    pauses.append(((j - k) * step, into))
                elif k * step >= c.speech_end - 0.3:
                    ends.append(into)
                    break
            k = j
    med = lambda v: float(np.median(v)) if v else None  # noqa: E731
    return {"pauses": len(pauses), "pause_length_median_s": med([p for p, _ in pauses]),
            "pause_length_max_s": max((p for p, _ in pauses), default=None),
            "pause_start_into_utterance_median_s": med([i for _, i in pauses]),
            "ends": len(ends), "end_start_into_utterance_median_s": med(ends)}


def tune(rec, clips: list[Clip], log, completeness, max_cutoff: float = 0.01) -> dict:
    """Grid over our settings on dev (replayed): the final config with the lowest median latency at cut-off <=
    ``max_cutoff`` on the clips with pauses <= 500 ms (ties: lower p90), then the speculative config with the fewest
    premature end-points among those leading the final one by >= 200 ms on median."""
    from edgeasr.endpoint import search_defaults

    step = rec.seconds_per_step
    traces = record_traces(rec, clips, completeness)
    idx = subsets(clips)[f"pauses <= {int(PAUSE_LIMIT_S * 1000)} ms"]
    sub = pick(clips, idx)
    base = search_defaults(rec)[1]  # the fields the grid does not vary
    grid = []
    for margin, drange, blank in itertools.product([6.0, 9.0, 12.0], [30.0, 40.0], [0.8, 0.95]):
        signal_cfg = dataclasses.replace(base, energy_margin_db=margin, dynamic_range_db=drange, blank_threshold=blank)
        states = {i: speech_state(traces[i], signal_cfg) for i in idx}
        for thr, complete, incomplete, (long_s, long_timeout) in itertools.product(
                [0.2, 0.35, 0.5, 0.7], [0.08, 0.12, 0.16, 0.2, 0.24, 0.28, 0.32, 0.4, 0.48, 0.56],
                [0.56, 0.64, 0.72, 0.8, 0.96],
                LONG_GRID):
            if complete > incomplete:
                continue
            cfg = dataclasses.replace(signal_cfg, complete_threshold=thr, complete_timeout_s=complete,
                                      incomplete_timeout_s=incomplete, long_utterance_s=long_s,
                                      long_timeout_s=min(long_timeout, incomplete))
            fired = [replay(traces[i], cfg, step, states[i]) for i in idx]
            grid.append((cfg, endpoint_metrics(sub, fired), fired))
    log(f"final grid: {len(grid)} settings")
    # Misses no setting avoids (a clip whose noise stays loud enough to count as speech throughout) do not rule
    # every setting out: a setting may miss no more clips than the grid's best does.
    least_misses = min(g[1]["miss_rate"] for g in grid)
    frontier = []  # the lowest median latency at each cut-off rate reached, for the record
    for g in sorted(grid, key=lambda g: (g[1]["cutoff_rate"], g[1]["latency_median_ms"] or 1e9)):
        lower = not frontier or g[1]["latency_median_ms"] < frontier[-1][1]["latency_median_ms"]
        if g[1]["miss_rate"] <= least_misses and lower:
            frontier.append(g)
    ok = [g for g in grid if g[1]["cutoff_rate"] <= max_cutoff and g[1]["miss_rate"] <= least_misses
          and g[1]["latency_median_ms"]]
    # Medians within 5 ms of the lowest are a tie: then the lower p90, then the lower cut-off.
    if ok:
        lowest = min(g[1]["latency_median_ms"] for g in ok)
        ok.sort(key=lambda g: (g[1]["latency_median_ms"] > lowest + 5, g[1]["latency_p90_ms"], g[1]["cutoff_rate"]))
    best_final, best_m, best_fired = ok[0] if ok else min(grid, key=lambda g: g[1]["cutoff_rate"])
    spec_grid = []
    spec_long = [0.08, 0.16, 0.24] if best_final.long_timeout_s < best_final.incomplete_timeout_s else [None]
    for complete, incomplete, thr, long_timeout in itertools.product([0.04, 0.08, 0.12], [0.16, 0.24, 0.32, 0.4],
                                                                     [0.2, 0.35, 0.5], spec_long):
        if complete > incomplete:
            continue
        cfg = dataclasses.replace(best_final, complete_timeout_s=complete, incomplete_timeout_s=incomplete,
                                  complete_threshold=thr,
                                  long_timeout_s=min(long_timeout or incomplete, incomplete))
        spec = [replay(traces[i], cfg, step) for i in idx]
        spec = [None if f is None else (min(s, f) if s is not None else f) for s, f in zip(spec, best_fired)]
        leads = [1000 * (f - s) for s, f in zip(spec, best_fired) if f is not None]
        premature = sum(s is not None and s < c.speech_end for s, c in zip(spec, sub))
        spec_grid.append((cfg, {"lead_median_ms": float(np.median(leads)) if leads else 0.0,
                                "premature_rate": premature / len(sub), **endpoint_metrics(sub, spec)}))
    fast = [g for g in spec_grid if g[1]["lead_median_ms"] >= 200]
    fast.sort(key=lambda g: (g[1]["premature_rate"], -g[1]["lead_median_ms"]))
    best_spec, spec_m = fast[0] if fast else max(spec_grid, key=lambda g: g[1]["lead_median_ms"])
    # The chosen pair live on dev (EndpointingStream, as the report runs it): the protocol's figures.
    from edgeasr.endpoint.stream import REVISE_ARC_POSTERIOR

    live = {}
    for arc_posterior in (REVISE_ARC_POSTERIOR, None, 0.01, 0.2):  # the default first; None: no lattice test
        rows = run_ours_live(rec, sub, best_spec, best_final, revise_arc_posterior=arc_posterior,
                             completeness=completeness)
        key = f"revise_arc_posterior {arc_posterior}"
        live[key] = {
            "final": endpoint_metrics(sub, [r["final"] for r in rows]),
            "speculative": endpoint_metrics(sub, [r["spec"] for r in rows]), "protocol": protocol_metrics(sub, rows)}
        log(f"dev live, {key}: {json.dumps(live[key])}")
    return {"split": clips[0].source, "clips": len(clips), "subset_clips": len(sub),
            "final": {"config": best_final.to_dict(), "metrics": best_m},
            "speculative": {"config": best_spec.to_dict(), "metrics": spec_m}, "live": live,
            "completeness": {"path": str(completeness.path), "source": completeness.source},
            "silences": silences(pick(traces, idx), sub, best_final),
            "max_cutoff": max_cutoff, "final_top10": [{"config": g[0].to_dict(), **g[1]} for g in ok[:10]],
            "least_miss_rate": least_misses,
            "final_frontier": [{"config": g[0].to_dict(), **g[1]} for g in frontier]}


# ---------------------------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------------------------

def fmt(v, kind):
    if v is None:
        return "-"
    return {"pct": f"{100 * v:.1f} %", "ms": f"{v:.0f}"}[kind]


def _unrevised(early_ms) -> str:
    """The premature speculative end-points the final one confirmed: how early they fired, and why."""
    if not early_ms:
        return ""
    return (f" (the other {len(early_ms)} fired {early_ms[0]:.0f}-{early_ms[-1]:.0f} ms before the true end, and the "
            "final end-point saw the same words and token times, no likely word after them and no step over the "
            "presence margin: nothing to revise)")


def write_markdown(report: dict, path: Path) -> None:
    lines = [f"# End-pointing ({report['date']})", "",
             f"`{report['command']}`; model `{report['model']}` (checkpoint `{report['checkpoint']}`, "
             f"sha256 {report['checkpoint_sha256'][:16]}); {report['machine']['model']}; git {report['git']}.", "",
             f"Latency: end of the {report['chunk_ms']:.0f} ms chunk (the feed) after which the end-pointer "
             "fired, minus the true end of speech (end-points that are not cut-offs). Cut-off: fired before the true "
             "end of speech. Miss: never fired within 3 s after the end of speech. Clips are extended with their own "
             "background (bench/endpoint.py).",
             ""]
    if report.get("grammar"):
        g = report["grammar"]
        lines += [f"Grammar: edgeasr decodes the test clips with the {len(g['phrases'])} phrases of `{g['file']}` "
                  f"and takes completeness from them ({report['completeness']['source']}); the peers and the "
                  "LibriVox clips go without.", ""]
    if report.get("lm"):
        r = report["recognizer"]
        end = "" if r.get("lm_end_of_sentence", True) else ", the end of sentence unscored (--lm-no-end)"
        lines += [f"N-gram LM: edgeasr's recognizer fuses `{report['lm']}` (lm_scale {r['lm_scale']:g}, token reward "
                  f"{r['token_reward']:g}{end}); the peers and the LibriVox clips' recognizer alike.", ""]
    ours = report.get("edgeasr_clips", [])
    if ours and all("ref" in c for c in ours):
        right = sum(c["final"] is not None and c["text"] == c["ref"] for c in ours)
        lines += [f"edgeasr's first final end-point carries the reference transcript exactly in {right} of "
                  f"{len(ours)} test clips ({fmt(right / len(ours), 'pct')}).", ""]
    for split_name, summary in report["results"].items():
        for subset, s in summary.items():
            n = next(iter(s["systems"].values()))["clips"]
            lines += [f"## {split_name}: {subset} ({n} clips)", "",
                      "| end-pointer | median latency (ms) | p90 latency (ms) | cut-off | miss |",
                      "|---|---|---|---|---|"]
            for name, m in s["systems"].items():
                lines.append(f"| {name} | {fmt(m['latency_median_ms'], 'ms')} | {fmt(m['latency_p90_ms'], 'ms')} | "
                             f"{fmt(m['cutoff_rate'], 'pct')} | {fmt(m['miss_rate'], 'pct')} |")
            p = s["protocol"]
            lines += ["", f"Speculative + final: revision rate {fmt(p['revision_rate'], 'pct')}; premature speculative "
                          f"end-points (before the end of speech) {p['premature_speculative']}, followed by a revised "
                          f"lattice + reset {p['premature_recovered']} ({fmt(p['premature_recovered_rate'], 'pct')}); "
                          f"of those whose final end-point came after the end of speech "
                          f"({p['premature_with_final_after_speech']}; the others are final cut-offs), "
                          f"{p['premature_with_final_after_speech_recovered']} "
                          f"({fmt(p['premature_with_final_after_speech_recovered_rate'], 'pct')})"
                          + _unrevised(p.get("premature_unrevised_early_ms"))
                          + "; median lead of "
                          f"the speculative over the final end-point {fmt(p['lead_median_ms'], 'ms')} ms; "
                          f"speculative end-points that were not premature {p.get('correct_speculative')}, of them "
                          f"revised all the same {p.get('correct_speculative_revised')} "
                          f"({fmt(p.get('correct_speculative_revised_rate'), 'pct')}).", ""]
            if p.get("clips_losing_words") is not None:
                lines += [f"Words dropped by the no_speech rule (judged to come from noise) before the first final "
                          f"end-point: {p['dropped_utterances']} times; clips where a dropped word lay within the "
                          f"true speech (spoken words lost): {p['clips_losing_words']}"
                          + (f" ({', '.join(p['clips_losing_words_uids'])})" if p["clips_losing_words_uids"] else "")
                          + ".", ""]
            if p.get("speech_end_error_ms"):
                e, w = p["speech_end_error_ms"], p["fire_after_estimate_ms"]
                lines += [f"The final end-pointer's estimate of the end of speech minus the true end: median "
                          f"{e['median']:.0f} ms (p10 {e['p10']:.0f}, p90 {e['p90']:.0f}); its fire time minus that "
                          f"estimate: median {w['median']:.0f} ms (p10 {w['p10']:.0f}, p90 {w['p90']:.0f}).", ""]
            if p.get("final_rules"):
                lines += ["Final end-points by the rule that fired: " + "; ".join(
                    f"{k} {v['clips']} (median latency {fmt(v['latency_median_ms'], 'ms')} ms, {v['cutoffs']} "
                    f"cut-offs)" for k, v in p["final_rules"].items()) + ".", ""]
            if s["sweeps"]:
                lines += ["| sweep | setting | median latency (ms) | p90 (ms) | cut-off | miss |",
                          "|---|---|---|---|---|---|"]
                for name, points in s["sweeps"].items():
                    for pt in points:
                        setting = ", ".join(f"{k} {v}" for k, v in pt["setting"].items())
                        lines.append(f"| {name} | {setting} | {fmt(pt['latency_median_ms'], 'ms')} | "
                                     f"{fmt(pt['latency_p90_ms'], 'ms')} | {fmt(pt['cutoff_rate'], 'pct')} | "
                                     f"{fmt(pt['miss_rate'], 'pct')} |")
                lines.append("")
    clips = [c for c in report.get("edgeasr_clips", []) if c["max_pause"] <= PAUSE_LIMIT_S]
    cut = [c for c in clips if c["final"] is not None and c["final"] < c["speech_end"]]
    if cut:
        inside = [c["speech_end"] - c["final"] for c in cut if c["max_pause"] == 0]
        lines += [f"edgeasr final cut-offs on the clips with pauses <= {int(PAUSE_LIMIT_S * 1000)} ms: {len(cut)}, of "
                  f"them {len(inside)} on clips without an inserted pause (fired inside speech"
                  + (f", {min(inside) * 1000:.0f}-{max(inside) * 1000:.0f} ms before its end" if inside else "")
                  + ").", ""]
    if report.get("librivox_clips"):
        lines += ["## LibriVox clips, one by one (fire time minus end of the last word, ms; negative: cut-off)", "",
                  "| clip | longest pause (s) | " + " | ".join(report["librivox_clips"][0]["fired_ms"]) + " |",
                  "|---|---|" + "---|" * len(report["librivox_clips"][0]["fired_ms"])]
        for c in report["librivox_clips"]:
            lines.append(f"| {c['uid']} | {c['max_pause']:.2f} | " + " | ".join(
                "-" if v is None else f"{v:.0f}" for v in c["fired_ms"].values()) + " |")
        lines.append("")
    lines += [f"Replayed final end-points that differ from the live stream's at the defaults: "
              f"{report.get('replay_mismatches')}"
              + (f"; with gap_factor {GAP_SWEEP[-1]:g}: {report['replay_mismatches_gap']}"
                 if report.get("replay_mismatches_gap") is not None else "") + ".", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def plot(report: dict, path: Path, split_name: str, subset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["results"][split_name][subset]
    fig, ax = plt.subplots(figsize=(10.5, 5.5))
    colors = {"edgeasr": "C0", "sherpa-onnx": "C1", "silero-vad": "C2", "webrtcvad": "C3"}
    for name, points in s["sweeps"].items():
        pts = [(100 * p["cutoff_rate"], p["latency_median_ms"]) for p in points if p["latency_median_ms"] is not None]
        color = colors[name.split()[0]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "--" if "gap" in name else "-", color=color, alpha=0.5,
                marker=".",
                label=f"{name} (sweep)")
    markers = {"edgeasr speculative": "^", "edgeasr final": "o"}
    for name, m in s["systems"].items():
        if m["latency_median_ms"] is None:
            continue
        ax.plot(100 * m["cutoff_rate"], m["latency_median_ms"], markers.get(name, "s"), markersize=9,
                color=colors[name.split()[0]], label=name)
    ax.axhline(400, color="grey", lw=0.6, ls=":")
    ax.axvline(1.0, color="grey", lw=0.6, ls=":")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=-0.05)
    ax.set_xlabel("cut-off rate (%): fired before the end of speech")
    ax.set_ylabel("median latency after the end of speech (ms)")
    ax.set_title(f"End-pointing, {split_name}, {subset}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="training checkpoint (default: the bundled model's)")
    p.add_argument("--model", type=Path, default=None, help="edgeasr model file instead of the checkpoint's export")
    p.add_argument("--corpus", default="v1")
    p.add_argument("--split", default="test", choices=["test", "dev"],
                   help="the corpus split of the report (dev: checks while developing; writes endpoint-dev.* unless "
                        "--out is given)")
    p.add_argument("--presence-margin-db", type=float, default=None,
                   help="both end-pointers' presence margin instead of the default (9: the rule before it had its "
                        "own margin)")
    p.add_argument("--limit", type=int, default=0, help="test clips, evenly over the voices (0: all)")
    p.add_argument("--chunk-frames", type=int, default=4,
                   help="our recognizer's encoder chunk in feature frames (default 4: 40 ms; see the docstring)")
    p.add_argument("--feed-ms", type=int, default=160,
                   help="audio per chunk fed to every system (default 160; 40: one step of our encoder, a "
                        "microphone's usual buffer or less)")
    p.add_argument("--tune", action="store_true", help="grid over our settings on the dev split; no peers")
    p.add_argument("--max-cutoff", type=float, default=0.01, help="--tune: the cut-off rate allowed on dev")
    p.add_argument("--completeness", type=Path, default=None,
                   help="sentence-completeness table (default: the bundled one; "
                        "scripts/build_endpoint_completeness.py)")
    p.add_argument("--grammar", type=Path, default=None,
                   help="our streams decode the test clips with this grammar (phrases, one per line, e.g. "
                        "bench/data/commands.txt) and take completeness from it (GrammarCompleteness); LibriVox "
                        "without it")
    p.add_argument("--lm", nargs="?", const="default", default=None,
                   help="our recognizer fuses this n-gram LM (no FILE: the bundled one) with the settings tuned for "
                        "its beam (edgeasr.recognizer.lm_search_defaults)")
    p.add_argument("--beam", type=int, default=None,
                   help="our recognizer's beam (default: RecognizerConfig's, 16); the end-pointers take the "
                        "defaults tuned for it (edgeasr.endpoint.search_defaults)")
    p.add_argument("--lm-no-end", action="store_true",
                   help="with --lm: the end of sentence unscored (RecognizerConfig.lm_end_of_sentence=False)")
    p.add_argument("--no-sweeps", action="store_true", help="only the systems at their defaults")
    p.add_argument("--out", type=Path, default=None, help="default bench/results/endpoint (endpoint-dev)")
    p.add_argument("--report-only", action="store_true", help="rewrite the .md and .png from the .json")
    args = p.parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    global CHUNK
    if not 10 <= args.feed_ms <= 1000:
        p.error(f"--feed-ms: expected 10..1000, got {args.feed_ms}")
    CHUNK = args.feed_ms * RATE // 1000
    if args.out is None:
        args.out = RESULTS / ("endpoint" if args.split == "test" else f"endpoint-{args.split}")
    if args.report_only:
        report = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        write_markdown(report, args.out.with_suffix(".md"))
        test_split = next(k for k in report["results"] if k != "librivox")
        plot(report, args.out.with_suffix(".png"), test_split, f"pauses <= {int(PAUSE_LIMIT_S * 1000)} ms")
        return 0
    try:
        from edgeasr.endpoint import CompletenessModel, search_defaults
        from edgeasr.recognizer import Recognizer, RecognizerConfig

        if args.tune and args.model:  # only our end-pointer: no peers, no export
            checkpoint, models, model_path = None, {}, args.model
        else:
            checkpoint = resolve_checkpoint(args.checkpoint)
            models = prepare_models(checkpoint, DEFAULT_CACHE)
            model_path = args.model or Path(models["edgeasr"]["int8"])
        from edgeasr.cli import lm_path

        lm_file = lm_path(args.lm)
        beam = RecognizerConfig.beam if args.beam is None else args.beam
        rec = Recognizer(model_path, RecognizerConfig(chunk_frames=args.chunk_frames, beam=beam,
                                                      lm_end_of_sentence=not args.lm_no_end), lm=lm_file)
        completeness = CompletenessModel(args.completeness)  # None: the bundled table
        grammar, test_completeness = None, completeness
        if args.grammar is not None:
            from edgeasr.cli import read_grammar_file
            from edgeasr.endpoint import GrammarCompleteness

            grammar = rec.grammar(read_grammar_file(args.grammar))
            test_completeness = GrammarCompleteness(grammar, completeness)
        command = "python bench/endpoint.py " + " ".join(argv if argv is not None else sys.argv[1:])
        if args.tune:
            clips = load_corpus(args.corpus, "dev")
            read_clips(clips)
            result = tune(rec, clips, log, completeness, args.max_cutoff)
            result.update(command=command.strip(), model=str(model_path), checkpoint=str(checkpoint),
                          chunk_ms=1000 * CHUNK / RATE,
                          lm=None if lm_file is None else str(lm_file), recognizer=dataclasses.asdict(rec.config))
            out = args.out.with_suffix(".tune.json")
            out.write_text(json.dumps(result, indent=1), encoding="utf-8")
            log(json.dumps({k: result[k] for k in ("final", "speculative")}, indent=1))
            log(f"wrote {out}")
            return 0
        test = even_over_voices(load_corpus(args.corpus, args.split), args.limit)
        libri = load_librivox(LIBRIVOX)
        read_clips(test)
        read_clips(libri)
        spec_cfg, final_cfg = search_defaults(rec, grammar, ours_fuse_lm(rec))
        if args.presence_margin_db is not None:
            spec_cfg = dataclasses.replace(spec_cfg, presence_margin_db=args.presence_margin_db)
            final_cfg = dataclasses.replace(final_cfg, presence_margin_db=args.presence_margin_db)
        report = {"date": datetime.date.today().isoformat(), "command": command.strip(), "model": str(model_path),
                  "recognizer": dataclasses.asdict(rec.config), "lm": None if lm_file is None else str(lm_file),
                  "checkpoint": str(checkpoint), "checkpoint_sha256": models["sha256"],
                  "trained_epochs": models.get("trained_epochs"), "machine": cpu_description(), "git": git_revision(),
                  "packages": package_versions(["numpy", "sherpa-onnx", "silero-vad", "webrtcvad-wheels", "torch"]),
                  "configs": {"speculative": spec_cfg.to_dict(), "final": final_cfg.to_dict()},
                  "completeness": {"path": str(completeness.path), "source": test_completeness.source},
                  "grammar": None if grammar is None else {"file": str(args.grammar), "phrases": list(grammar.phrases),
                                                           "repeat": grammar.repeat},
                  "chunk_ms": 1000 * CHUNK / RATE, "trailing_s": TRAILING_S, "results": {}}
        log(f"{len(test)} {args.split} clips, {len(libri)} LibriVox clips")
        run = evaluate_all(rec, models, test, spec_cfg, final_cfg, not args.no_sweeps, log, test_completeness,
                           grammar)
        report["results"][f"{args.corpus}/{args.split}"] = summarize(test, run)
        report["replay_mismatches"] = run.get("replay_mismatches")
        report["replay_mismatches_gap"] = run.get("replay_mismatches_gap")
        report["edgeasr_clips"] = [{"uid": c.uid, "ref": c.text, "speech_end": round(c.speech_end, 4),
                                    "max_pause": round(c.max_pause, 4),
                                    **{k: r[k] for k in ("spec", "final", "confirmed", "reset", "text", "rule",
                                                         "dropped", "lost")}}
                                   for c, r in zip(test, run["ours_rows"])]
        lrun = evaluate_all(rec, models, libri, spec_cfg, final_cfg, False, log, completeness)
        report["results"]["librivox"] = {"all": summarize(libri, lrun)["all"]}
        report["librivox_clips"] = [{"uid": c.uid, "max_pause": c.max_pause, "fired_ms": {
            k: None if v[i] is None else 1000 * (v[i] - c.speech_end) for k, v in lrun["fired"].items()}}
            for i, c in enumerate(libri)]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        write_markdown(report, args.out.with_suffix(".md"))
        plot(report, args.out.with_suffix(".png"), f"{args.corpus}/{args.split}",
             f"pauses <= {int(PAUSE_LIMIT_S * 1000)} ms")
        log(f"wrote {args.out.with_suffix('.json')}, .md, .png")
        return 0
    except BenchError as e:
        print(f"bench/endpoint.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
