"""Greedy RNN-T decoding in PyTorch and word error rates per voice (the native decoder comes with the runtime)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import jiwer
import torch

from edgeasr.tokens import TokenTable
from edgeasr.train.batching import Utterance, collate
from edgeasr.train.model import Transducer

BLANK = 0


@torch.no_grad()
def greedy_decode(model: Transducer, features: torch.Tensor, lengths: torch.Tensor,
                  max_symbols_per_frame: int = 3) -> list[list[int]]:
    """Token ids per utterance: at each encoder frame, emit the joiner's best token until it says blank (or
    ``max_symbols_per_frame`` tokens), feeding each emitted token back as decoder context."""
    model.eval()
    enc, enc_lengths, _ = model.encoder(features, lengths)
    n, t_max, _ = enc.shape
    context_size = model.cfg.context_size
    context = torch.full((n, context_size), BLANK, dtype=torch.int64, device=enc.device)
    dec = model.decoder(context[:, None, :])[:, 0]  # [N, D]
    hyps: list[list[int]] = [[] for _ in range(n)]
    for t in range(t_max):
        active = enc_lengths > t
        for _ in range(max_symbols_per_frame):
            logits = model.joiner(enc[:, t], dec)
            best = logits.argmax(dim=-1)
            emit = active & (best != BLANK)
            if not bool(emit.any()):
                break
            for i in torch.nonzero(emit).flatten().tolist():
                hyps[i].append(int(best[i]))
            context = torch.where(emit[:, None], torch.cat([context[:, 1:], best[:, None]], dim=1), context)
            dec = torch.where(emit[:, None], model.decoder(context[:, None, :])[:, 0], dec)
            active = emit
    return hyps


def transcribe(model: Transducer, utts: Sequence[Utterance], table: TokenTable,
               batch_size: int = 16) -> list[str]:
    out: list[str] = []
    device = next(model.parameters()).device
    for i in range(0, len(utts), batch_size):
        x, lengths, _, _ = collate(utts[i:i + batch_size])
        out += [table.decode(h) for h in greedy_decode(model, x.to(device), lengths.to(device))]
    return out


def wer_by_voice(refs: Sequence[str], hyps: Sequence[str], voices: Sequence[str]) -> dict[str, dict]:
    """{voice: {"wer", "words", "utterances"}} plus "all", WER from jiwer over each group's utterances."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(voices):
        groups[v].append(i)
        groups["all"].append(i)
    report = {}
    for voice, idx in sorted(groups.items()):
        r = [refs[i] for i in idx]
        h = [hyps[i] for i in idx]  # an empty hypothesis counts as deletions
        report[voice] = {"wer": jiwer.wer(r, h), "words": sum(len(x.split()) for x in r), "utterances": len(idx)}
    return report


FSDD_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")



def evaluate_corpus(model: Transducer, table: TokenTable, corpus: str, split: str,
                    limit: int = 0) -> dict[str, dict]:
    """WER per voice on a built corpus split (its cached features)."""
    from edgeasr.train.data import utterances

    utts = utterances(corpus, split, None)
    if limit:
        utts = utts[:limit]
    hyps = transcribe(model, utts, table)
    return wer_by_voice([u.text for u in utts], hyps, [u.voice for u in utts])


def evaluate_fsdd(model: Transducer, table: TokenTable, folder: Path, limit: int = 0) -> dict:
    """Digit accuracy on the Free Spoken Digit Dataset (real people, 8 kHz): each clip is resampled to the
    model's 16 kHz as a user would, and counts as right when the transcript is exactly its digit's word."""
    import soundfile as sf

    from edgeasr.features import compute_fbank
    from edgeasr.train.synth import resample

    files = sorted(Path(folder).glob("*.wav"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    if not files:
        raise FileNotFoundError(f"{folder}: no FSDD .wav files")
    utts, refs, speakers = [], [], []
    for f in files:
        samples, rate = sf.read(f, dtype="float32", always_2d=False)
        feats = compute_fbank(resample(samples, rate, 16000), 16000)
        digit, speaker, _ = f.stem.split("_")
        refs.append(FSDD_DIGITS[int(digit)])
        speakers.append(speaker)
        utts.append(Utterance(uid=f.stem, voice=speaker, text=refs[-1], num_frames=len(feats), tokens=[],
                              load_features=lambda x=feats: x))
    hyps = transcribe(model, utts, table)
    right = [h.strip() == r for h, r in zip(hyps, refs)]
    by_speaker: dict[str, list[bool]] = defaultdict(list)
    for s, ok in zip(speakers, right):
        by_speaker[s].append(ok)
    return {"accuracy": sum(right) / len(right), "clips": len(right),
            "by_speaker": {s: sum(v) / len(v) for s, v in sorted(by_speaker.items())},
            "examples": [(u.uid, h) for u, h in zip(utts[:10], hyps[:10])]}
