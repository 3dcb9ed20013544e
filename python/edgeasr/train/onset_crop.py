"""Onset crop: some training utterances start part-way into their leading silence, down to the first speech frame.

Audio often starts with the speech itself: push-to-talk devices record from the button press, and clips cut at the
speech onset (the FSDD recordings are) have no silence before the first word. The synthesized corpus always puts
50-300 ms of silence (plus a margin) before the speech, so a model trained on it alone never sees speech begin at
once, and misses or garbles the first word when it does. Cropping a random part of the leading silence of some
utterances (features only: an fbank frame depends on its own 25 ms of audio, so dropping the first k frames is the
audio started k frame shifts later) teaches it both.
"""

from __future__ import annotations

import torch

__all__ = ["crop_onsets", "check_lead_arguments"]


def check_lead_arguments(features: torch.Tensor, lengths: torch.Tensor, lead_frames: torch.Tensor,
                         prob: float) -> int:
    """The batch size, after checking what this module and :mod:`edgeasr.train.lead_extend` take (ValueError)."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob: expected a probability in [0, 1], got {prob!r}")
    n = features.shape[0]
    if lengths.shape != (n,) or lead_frames.shape != (n,):
        raise ValueError(f"lengths and lead_frames: expected shape ({n},), got {tuple(lengths.shape)} and "
                         f"{tuple(lead_frames.shape)}")
    if bool((lead_frames < 0).any()):
        raise ValueError("lead_frames: expected frame counts >= 0")
    return n


def crop_onsets(features: torch.Tensor, lengths: torch.Tensor, lead_frames: torch.Tensor, prob: float,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, lengths) with each utterance, with probability ``prob``, started ``k`` frames later, ``k``
    uniform in [0, its ``lead_frames``] (frames before its first speech frame, at most its length - 1). Cropped
    rows shift left and are zero-padded like collate pads; the input is not modified."""
    n = check_lead_arguments(features, lengths, lead_frames, prob)
    out, new_lengths = features.clone(), lengths.clone()
    if prob == 0.0:
        return out, new_lengths
    for i in range(n):
        t = int(lengths[i])
        lead = min(int(lead_frames[i]), t - 1)
        # Both draws are made for every utterance, so which utterances are cropped does not change the others'.
        crop = float(torch.rand((1,), generator=generator)) < prob
        k = int(torch.randint(0, max(lead, 0) + 1, (1,), generator=generator))
        if not crop or k == 0:
            continue
        out[i, : t - k] = features[i, k:t]
        out[i, t - k:] = 0.0
        new_lengths[i] = t - k
    return out, new_lengths
