"""Lead extension: some training utterances start later, after more of their own background.

The synthesized corpus puts 50-300 ms of silence before every utterance, and a model trained on it alone breaks when
speech starts later: with 1 s more of the clip's own background first, the bundled model made 2.6x the errors on dev
(bench/onset.py --longer-lead-s 1.0). A stream opened before the user speaks, or a push-to-talk user who waits,
gives exactly that. This prepends to some utterances a stretch of their own leading background, at the feature
level (an fbank frame depends on its own 25 ms of audio, so frames of background repeated are background that
lasted longer): the frames before the speech, less a margin where the onset may already begin, repeated alternately
forward and reversed so that there is no jump at the joins (bench/onset.py measures with audio extended the same
way, from the clip's quietest 100 ms of non-speech instead of its whole lead). The opposite of
:mod:`edgeasr.train.onset_crop`, and applied before it.
"""

from __future__ import annotations

import torch

from edgeasr.train.onset_crop import check_lead_arguments

__all__ = ["extend_leads", "MARGIN_FRAMES"]

MARGIN_FRAMES = 3  # frames just before the speech start that are not repeated (30 ms: the onset may begin there)


def extend_leads(features: torch.Tensor, lengths: torch.Tensor, lead_frames: torch.Tensor, prob: float,
                 max_frames: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features, lengths, lead_frames) with each utterance, with probability ``prob``, preceded by ``k`` more frames
    of its own background, ``k`` uniform in [0, ``max_frames``]. Utterances with fewer than ``MARGIN_FRAMES`` + 1
    lead frames have no background to repeat and stay as they are. Rows are zero-padded like collate pads; the
    input is not modified."""
    n = check_lead_arguments(features, lengths, lead_frames, prob)
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 0:
        raise ValueError(f"max_frames: expected an int >= 0, got {max_frames!r}")
    # Background frames per utterance: its lead (within its length) less the margin; 0 or less: nothing to repeat.
    background = torch.minimum(lead_frames, lengths) - MARGIN_FRAMES
    extra = torch.zeros(n, dtype=torch.int64)
    for i in range(n):
        # Both draws are made for every utterance, so which utterances are extended does not change the others'.
        extend = float(torch.rand((1,), generator=generator)) < prob
        k = int(torch.randint(0, max_frames + 1, (1,), generator=generator))
        if extend and background[i] > 0:
            extra[i] = k
    if not bool(extra.any()):
        return features.clone(), lengths.clone(), lead_frames.clone()
    new_lengths = lengths + extra
    out = features.new_zeros((n, int(new_lengths.max()), features.shape[2]))
    for i in range(n):
        t, k = int(lengths[i]), int(extra[i])
        if k:
            lead = features[i, :int(background[i])]
            cycle = torch.cat([lead, lead.flip(0)])
            out[i, :k] = cycle.repeat(-(-k // cycle.shape[0]), 1)[:k]
        out[i, k:k + t] = features[i, :t]
    return out, new_lengths, lead_frames + extra
