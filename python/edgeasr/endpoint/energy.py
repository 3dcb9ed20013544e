"""Audio energy per encoder step and the stream's noise floor, for the end-pointers' speech / non-speech test.

Energy is computed on the samples as they arrive, at their own rate (no resampling needed): step ``k`` covers the
stream time ``[k, k + 1) * seconds_per_step``, and its energy is the power of its samples in the speech band
(``BAND_HZ``, from a Hann-windowed FFT of the step: rumble and brown noise, whose 40 ms energies swing by 10 dB and
more, and hiss above the band weigh little against speech), in dB re full scale (floored at -100 dB). The noise
floor follows the quietest steps: it drops at once to a quieter step and rises by at most ``rise_db_per_s`` while
the audio is louder, so speech barely lifts it and a change of background is followed within seconds. Both carry
over between utterances: the audio is one continuous signal.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["StepEnergy", "NoiseFloor", "MIN_DB"]

MIN_DB = -100.0
BAND_HZ = (250.0, 3500.0)


def band_energy_db(segment: np.ndarray, rate: int) -> float:
    """Mean power per sample of ``segment`` within BAND_HZ (Parseval over a Hann-windowed FFT), in dB."""
    n = segment.size
    window = np.hanning(n)
    spectrum = np.abs(np.fft.rfft(segment * window)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    in_band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    power = 2.0 * float(spectrum[in_band].sum()) / (n * float(np.sum(window * window)))
    return max(MIN_DB, 10.0 * math.log10(power + 1e-10))


class StepEnergy:
    """Streaming per-step energies of mono float samples."""

    def __init__(self, seconds_per_step: float):
        if not isinstance(seconds_per_step, (int, float)) or not seconds_per_step > 0:
            raise ValueError(f"seconds_per_step: expected > 0, got {seconds_per_step!r}")
        self.seconds_per_step = float(seconds_per_step)
        self._rate = None
        self._pending = np.zeros(0, np.float64)
        self._steps = 0          # steps completed
        self._consumed = 0       # samples consumed into completed steps

    def _boundary(self, k: int) -> int:
        """First sample of step k at the stream's rate (exact for fractional step lengths)."""
        return int(round(k * self.seconds_per_step * self._rate))

    def accept(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Appends samples (float, mono); returns the dB energies of the steps they complete (maybe none)."""
        if self._rate is None:
            self._rate = int(rate)
        elif rate != self._rate:
            raise ValueError(f"rate: this stream's audio is at {self._rate} Hz, got {rate}")
        self._pending = np.concatenate([self._pending, np.asarray(samples, np.float64)])
        out = []
        while True:
            a, b = self._boundary(self._steps), self._boundary(self._steps + 1)
            if b - self._consumed > self._pending.size or b <= a:
                break
            seg = self._pending[a - self._consumed:b - self._consumed]
            out.append(band_energy_db(seg, self._rate))
            self._steps += 1
        drop = self._boundary(self._steps) - self._consumed
        if drop:
            self._pending = self._pending[drop:]
            self._consumed += drop
        return np.asarray(out, np.float64)

    @property
    def steps(self) -> int:
        return self._steps


class NoiseFloor:
    """Minimum tracking with a bounded rise (see the module docstring)."""

    def __init__(self, seconds_per_step: float, rise_db_per_s: float = 3.0):
        if not isinstance(rise_db_per_s, (int, float)) or not math.isfinite(rise_db_per_s) or rise_db_per_s < 0:
            raise ValueError(f"rise_db_per_s: expected a finite number >= 0, got {rise_db_per_s!r}")
        self._rise = float(rise_db_per_s) * float(seconds_per_step)
        self.floor = None

    def update(self, energies_db: np.ndarray) -> np.ndarray:
        """The floor after each step, that step included (so it is never above the step's own energy)."""
        out = np.empty(len(energies_db), np.float64)
        floor = self.floor
        for i, e in enumerate(energies_db):
            floor = e if floor is None else min(float(e), floor + self._rise)
            out[i] = floor
        self.floor = floor
        return out
