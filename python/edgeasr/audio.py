"""Audio input for inference: whatever a file or a microphone gives, turned into what the features expect.

The recognizer takes mono float32 samples in [-1, 1] at the model's sample rate (``FbankConfig.sample_rate`` in
the model file, 16 kHz for the models trained here). Three steps get there, numpy only (no torch, no lhotse):

- :func:`to_mono_float32` converts a 1-D array of float32, float64, int16 or int32 samples (integers scaled by
  1/32768 or 1/2**31) to float32. A 2-D array [frames, channels] with one channel is accepted; more channels raise
  ValueError, since which channel holds the speech (or whether to mix) is the caller's decision. NaN or infinity,
  an empty array and any other dtype raise ValueError too.
- :func:`resample` changes the rate by a rational factor ``to/from`` (reduced by their gcd to L/M) with a windowed
  sinc (Kaiser window, about 80 dB stopband), evaluated polyphase: each output sample is one dot product of
  ``2 * half_width`` input samples with one of L precomputed filter phases. The filter's stopband starts at the
  lower rate's Nyquist frequency and its passband reaches 90 % of it, so nothing above the new Nyquist folds back
  (anti-aliasing when going down) and no images appear (going up). Output sample j sits at input time
  ``j * from / to``: no delay. The output has ``round(n * to / from)`` samples; the signal counts as zero outside.
- :func:`load_audio` reads a file through soundfile (WAV, FLAC, OGG, ...) and applies both.
"""

from __future__ import annotations

import math
import numbers
import os
from fractions import Fraction
from typing import Optional, Union

import numpy as np

__all__ = ["to_mono_float32", "check_sample_rate", "resample", "StreamingResampler", "load_audio"]

_INT_SCALE = {np.dtype(np.int16): 1.0 / 32768.0, np.dtype(np.int32): 1.0 / 2147483648.0}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Filter design, in units of the lower of the two rates: the passband ends at 0.9 of its Nyquist frequency and
# the stopband begins at 1.0; over that transition a Kaiser window reaches about 80 dB with 51 zero crossings
# each side (Kaiser's formula: (80 - 8) / (2.285 * 2*pi * 0.05) ~ 100 taps).
_PASS_EDGE = 0.90
_STOP_EDGE = 1.00
_HALF_WIDTH = 51
_KAISER_BETA = 0.1102 * (80.0 - 8.7)
_MAX_RATE = 1_000_000


def to_mono_float32(samples: np.ndarray, allow_empty: bool = False) -> np.ndarray:
    """Mono float32 samples from a 1-D array (or a [frames, 1] array) of float32, float64, int16 or int32.

    Integers are scaled to [-1, 1) (int16 by 1/32768, int32 by 1/2**31); floats are taken as already in [-1, 1].
    Raises ValueError for several channels, NaN or infinity, another dtype, or an empty array unless
    ``allow_empty`` (a streaming chunk may be empty; a whole clip may not).
    """
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"samples: expected a numpy array, got {type(samples).__name__}")
    if samples.dtype not in _FLOATS and samples.dtype not in _INT_SCALE:
        raise ValueError(f"samples: dtype {samples.dtype} is not supported; expected float32, float64, int16 or "
                         "int32")
    if samples.ndim == 2:
        if samples.shape[1] != 1:
            raise ValueError(f"samples: {samples.shape[1]} channels (shape {samples.shape}, [frames, channels]); "
                             "the recognizer takes mono: pick one channel (samples[:, 0]) or mix them "
                             "(samples.mean(axis=1))")
        samples = samples[:, 0]
    elif samples.ndim != 1:
        raise ValueError(f"samples: expected 1-D mono audio or [frames, channels], got shape {samples.shape}")
    if samples.size == 0 and not allow_empty:
        raise ValueError("samples: empty")
    if samples.dtype in _INT_SCALE:
        return (samples.astype(np.float64) * _INT_SCALE[samples.dtype]).astype(np.float32)
    if not np.isfinite(samples).all():
        raise ValueError("samples: contains NaN or infinity")
    return np.ascontiguousarray(samples, dtype=np.float32)


def check_sample_rate(rate, name: str = "sample_rate") -> int:
    """``rate`` as an int if it is a plausible sample rate in Hz; ValueError naming ``name`` otherwise."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Integral):
        raise ValueError(f"{name}: expected an integer sample rate in Hz, got {rate!r}")
    if not 1 <= int(rate) <= _MAX_RATE:
        raise ValueError(f"{name}: must lie in [1, {_MAX_RATE}] Hz, got {rate}")
    return int(rate)


def _phases(up: int, down: int) -> tuple[np.ndarray, int]:
    """Filter phases [up, 2 * k] and k: phase p weights input samples q - k + 1 .. q + k for output time q + p/up."""
    ratio = min(1.0, up / down)  # the lower rate, in cycles per input sample, is ratio
    cutoff = 0.5 * ratio * (_PASS_EDGE + _STOP_EDGE) / 2  # the transition's middle, cycles per input sample
    half = _HALF_WIDTH / ratio  # the window's half length, in input samples
    k = int(math.ceil(half))
    offsets = np.arange(-k + 1, k + 1, dtype=np.float64)  # input sample i relative to q
    t = np.arange(up, dtype=np.float64)[:, None] / up - offsets[None, :]  # output time minus input time
    inside = np.abs(t) < half
    window = np.where(inside, np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, None))), 0.0)
    window /= np.i0(_KAISER_BETA)
    taps = 2.0 * cutoff * np.sinc(2.0 * cutoff * t) * window
    # Each phase sums to 1: a constant stays that constant exactly (the unnormalized sums differ by < 1e-4).
    taps /= taps.sum(axis=1, keepdims=True)
    return taps, k


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """``samples`` (1-D float32) at ``from_rate`` Hz, resampled to ``to_rate`` Hz: float32 [round(n * to / from)].

    Windowed-sinc polyphase resampling; see the module docstring for the filter. Equal rates return a copy.
    """
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"samples: expected a numpy array, got {type(samples).__name__}")
    if samples.dtype != np.float32 or samples.ndim != 1:
        raise ValueError(f"samples: expected 1-D float32 audio, got {samples.dtype} of shape {samples.shape} "
                         "(convert with to_mono_float32 first)")
    resampler = StreamingResampler(from_rate, to_rate)
    return np.concatenate([resampler.accept(samples), resampler.flush()])


class StreamingResampler:
    """:func:`resample` for audio that arrives in pieces: feeding the pieces to :meth:`accept` and then calling
    :meth:`flush` gives the samples ``resample`` gives for the whole signal (to float rounding), with the same filter.

    An output sample waits until the input it needs has arrived (about ``half_width`` input samples past it, ~3 ms
    at 16 kHz), so each call returns what is ready; ``flush`` ends the signal (zeros after it) and returns the rest.
    """

    def __init__(self, from_rate: int, to_rate: int):
        self.from_rate = check_sample_rate(from_rate, "from_rate")
        self.to_rate = check_sample_rate(to_rate, "to_rate")
        g = math.gcd(self.from_rate, self.to_rate)
        self._up, self._down = self.to_rate // g, self.from_rate // g
        self._taps, self._k = _phases(self._up, self._down) if self._up != self._down else (None, 0)
        self._buf = np.zeros(self._k, np.float64)  # input samples from index self._buf_start on (zeros before 0)
        self._buf_start = -self._k
        self._n_in = 0
        self._n_out = 0
        self._flushed = False

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Appends 1-D float32 ``samples``; returns the output samples now ready (float32, possibly empty)."""
        if self._flushed:
            raise ValueError("samples: the resampler was flushed; create a new one for new audio")
        if not isinstance(samples, np.ndarray) or samples.dtype != np.float32 or samples.ndim != 1:
            raise ValueError("samples: expected 1-D float32 audio (convert with to_mono_float32 first)")
        if samples.size and not np.isfinite(samples).all():
            raise ValueError("samples: contains NaN or infinity")
        self._n_in += samples.size
        if self._taps is None:
            self._n_out += samples.size
            return samples.copy()
        self._buf = np.concatenate([self._buf, samples.astype(np.float64)])
        # Output j needs input samples up to q(j) + k, q(j) = floor(j * down / up).
        return self._produce(self._n_in)

    def flush(self) -> np.ndarray:
        """Ends the input: returns the remaining output samples (the total is ``round(n * to / from)``)."""
        if self._flushed:
            return np.zeros(0, np.float32)
        self._flushed = True
        if self._taps is None:
            return np.zeros(0, np.float32)
        self._buf = np.concatenate([self._buf, np.zeros(self._k + 1, np.float64)])
        total = round(Fraction(self._n_in * self.to_rate, self.from_rate))
        return self._produce(self._n_in + self._k + 1, total)

    def _produce(self, available: int, total: Optional[int] = None) -> np.ndarray:
        up, down, k = self._up, self._down, self._k
        # The largest j with q(j) + k <= available - 1.
        last = available - 1 - k
        stop = 0 if last < 0 else ((last + 1) * up - 1) // down + 1
        if total is not None:
            stop = min(stop, total)
        if stop <= self._n_out:
            return np.zeros(0, np.float32)
        out = np.empty(stop - self._n_out, np.float64)
        block = max(1, (1 << 20) // (2 * k))  # outputs per gather: bounds the [block, 2k] window copy
        for first in range(self._n_out, stop, block):
            j = np.arange(first, min(stop, first + block), dtype=np.int64)
            q, p = np.divmod(j * down, up)
            rows = (q - k + 1 - self._buf_start)[:, None] + np.arange(2 * k)[None, :]
            out[first - self._n_out:first - self._n_out + j.size] = np.einsum("ij,ij->i", self._buf[rows],
                                                                              self._taps[p])
        self._n_out = stop
        # Keep only the input the next outputs can still need.
        next_q = (stop * down) // up
        drop = max(0, next_q - k + 1 - self._buf_start)
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return out.astype(np.float32)


def load_audio(path: Union[str, os.PathLike], sample_rate: Optional[int] = None) -> tuple[np.ndarray, int]:
    """Read a mono audio file: (float32 samples in [-1, 1], rate). With ``sample_rate``, resample to it first.

    Raises ValueError naming the path for a file soundfile cannot read, and as :func:`to_mono_float32` does for a
    file with several channels or no samples.
    """
    import soundfile as sf  # only here: the rest of the module works on arrays from anywhere

    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a file path, got {type(path).__name__}")
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate, "sample_rate")
    try:
        data, rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise ValueError(f"path: cannot read audio from {os.fspath(path)!r}: {e}") from None
    try:
        samples = to_mono_float32(data)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None
    if sample_rate is not None and sample_rate != rate:
        return resample(samples, rate, sample_rate), sample_rate
    return samples, int(rate)
