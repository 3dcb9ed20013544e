"""Utterances for training, batched by length so padding stays small, and sharded across processes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch


@dataclass
class Utterance:
    uid: str
    voice: str
    text: str
    num_frames: int                         # feature frames (10 ms)
    tokens: list[int]                       # BPE ids of text, no blank
    load_features: Callable[[], np.ndarray]  # -> float32 [num_frames, num_bins]
    lead_frames: int = 0                    # frames before the first speech frame (edgeasr.train.onset_crop)


def length_batches(utts: Sequence[Utterance], max_frames: int, seed: int, epoch: int, rank: int = 0,
                   world: int = 1) -> list[list[int]]:
    """Index batches of similar-length utterances whose padded size stays within ``max_frames``; the batch
    order is shuffled per epoch (same order in every process) and batch k goes to process k mod world. Every
    process gets the same number of batches (the remainder is dropped), so collective steps stay in lockstep."""
    order = sorted(range(len(utts)), key=lambda i: (utts[i].num_frames, utts[i].uid))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = max([utts[j].num_frames for j in current] + [utts[i].num_frames])
        if current and longest * (len(current) + 1) > max_frames:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    random.Random(seed * 1_000_003 + epoch).shuffle(batches)
    usable = len(batches) // world * world
    return batches[rank:usable:world]


def collate(utts: Sequence[Utterance]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features [N, T, F] zero-padded, lengths [N], targets [N, U] padded with 0, target lengths [N])."""
    feats = [u.load_features() for u in utts]
    n, t = len(feats), max(f.shape[0] for f in feats)
    x = torch.zeros(n, t, feats[0].shape[1])
    for i, f in enumerate(feats):
        x[i, : f.shape[0]] = torch.from_numpy(np.array(f, dtype=np.float32))  # a copy: mmap'd input is read-only
    lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.int64)
    u = max(1, max(len(x.tokens) for x in utts))
    y = torch.zeros(n, u, dtype=torch.int64)
    for i, utt in enumerate(utts):
        y[i, : len(utt.tokens)] = torch.tensor(utt.tokens, dtype=torch.int64)
    target_lengths = torch.tensor([len(x.tokens) for x in utts], dtype=torch.int64)
    return x, lengths, y, target_lengths
