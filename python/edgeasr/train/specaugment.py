"""SpecAugment: random frequency and time masks on a batch of features, applied during training only."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SpecAugmentConfig:
    freq_masks: int = 2         # masks per utterance across mel bins
    freq_width: int = 15        # widest frequency mask, in bins
    time_masks: int = 2         # masks per utterance across frames
    time_width_frac: float = 0.05  # widest time mask, as a fraction of the utterance's frames
    enabled: bool = True

    def validate(self) -> None:
        if min(self.freq_masks, self.freq_width, self.time_masks) < 0 or not 0 <= self.time_width_frac < 1:
            raise ValueError(f"specaugment: counts and widths must be >= 0 and time_width_frac in [0, 1): {self}")


def spec_augment(features: torch.Tensor, lengths: torch.Tensor, cfg: SpecAugmentConfig,
                 generator: torch.Generator) -> torch.Tensor:
    """Masked copy of ``features`` [N, T, F]: masked cells are set to each utterance's mean, so that a mask looks
    like "nothing here" rather than an energy the features never have. Frames past ``lengths`` are untouched."""
    if not cfg.enabled:
        return features
    out = features.clone()
    n, _, f = features.shape
    for i in range(n):
        t = int(lengths[i])
        if t == 0:
            continue
        fill = out[i, :t].mean()
        for _ in range(cfg.freq_masks):
            width = int(torch.randint(0, cfg.freq_width + 1, (1,), generator=generator))
            start = int(torch.randint(0, max(1, f - width), (1,), generator=generator))
            out[i, :t, start:start + width] = fill
        max_width = int(cfg.time_width_frac * t)
        for _ in range(cfg.time_masks):
            width = int(torch.randint(0, max_width + 1, (1,), generator=generator))
            start = int(torch.randint(0, max(1, t - width), (1,), generator=generator))
            out[i, start:start + width, :] = fill
    return out
