"""SpecAugment: random frequency and time masks on a batch of features, applied during training only; optionally a
random vocal-tract-length warp of the mel axis first (VTLP), so that the few synthetic voices stand for many more."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class SpecAugmentConfig:
    freq_masks: int = 2         # masks per utterance across mel bins
    freq_width: int = 15        # widest frequency mask, in bins
    time_masks: int = 2         # masks per utterance across frames
    time_width_frac: float = 0.05  # widest time mask, as a fraction of the utterance's frames
    freq_warp: float = 0.0      # VTLP: each utterance's frequencies scaled by a factor drawn from [1 - w, 1 + w]
    enabled: bool = True

    def validate(self) -> None:
        if min(self.freq_masks, self.freq_width, self.time_masks) < 0 or not 0 <= self.time_width_frac < 1:
            raise ValueError(f"specaugment: counts and widths must be >= 0 and time_width_frac in [0, 1): {self}")
        if not 0 <= self.freq_warp < 0.5:
            raise ValueError(f"specaugment: freq_warp must be in [0, 0.5): {self}")


def _mel(f: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(f / 700.0)


def _mel_inverse(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * torch.expm1(m / 1127.0)


def vtlp_source_bins(num_bins: int, alpha: float, low_hz: float = 20.0, high_hz: float = 8000.0,
                     boundary: float = 0.8) -> torch.Tensor:
    """Fractional source bin for each output bin when the spectrum is warped by ``alpha`` (a speaker whose vocal
    tract is ``alpha`` times shorter): an output bin at frequency f takes the energy the input had at f / alpha,
    up to ``boundary`` x the band's top; above it the map runs linearly to the top so the band edges stay put
    (Jaitly & Hinton's VTLP). Bins are kaldi-native-fbank's: centres evenly spaced in mel between low_hz and high_hz."""
    mel_low, mel_high = _mel(torch.tensor(low_hz, dtype=torch.float64)), _mel(torch.tensor(high_hz, dtype=torch.float64))
    step = (mel_high - mel_low) / (num_bins + 1)
    centres = _mel_inverse(mel_low + step * torch.arange(1, num_bins + 1, dtype=torch.float64))
    cut = boundary * high_hz * min(alpha, 1.0)
    src = torch.where(centres <= cut, centres / alpha,
                      cut / alpha + (high_hz - cut / alpha) * (centres - cut) / (high_hz - cut))
    pos = (_mel(src.clamp(low_hz, high_hz)) - mel_low) / step - 1.0
    return pos.clamp(0, num_bins - 1).to(torch.float32)


def _warp(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """x [T, F] log-mel frames warped along F by linear interpolation between the source bins."""
    pos = vtlp_source_bins(x.shape[1], alpha)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=x.shape[1] - 1)
    frac = pos - lo
    return x[:, lo] * (1 - frac) + x[:, hi] * frac


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
        if cfg.freq_warp > 0:
            u = float(torch.rand((1,), generator=generator))
            alpha = math.exp((2 * u - 1) * math.log1p(cfg.freq_warp))  # log-uniform, symmetric around 1
            out[i, :t] = _warp(out[i, :t], alpha)
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
