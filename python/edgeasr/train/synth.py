"""Rendering one request with one voice: 16 kHz float32 speech with known timing, and its augmentations.

The pipeline of :func:`render`, every random choice drawn from one generator seeded by the caller:

1. Prosody: a speaking rate (all engines but festival's HTS voice) and, for espeak-ng, a pitch.
2. Optionally one internal pause: the words are split at a random word boundary and the halves synthesized
   separately, so the pause falls between words and its length is exact.
3. Each piece is synthesized by the engine into a temporary wav, resampled to 16 kHz and optionally speed-perturbed
   (both with lhotse's windowed-sinc resampler).
4. Speech bounds are measured on each clean piece (:func:`speech_bounds`), the pieces are trimmed to those bounds
   plus a short margin and laid out as: leading silence, speech, pause, speech, trailing silence. ``speech_end`` and
   the pauses are exact sample positions of this dry layout, so they are known, not estimated after the noise.
5. Level normalisation, then reverberation, additive noise, 8 kHz band-limiting and gain, each with its own
   probability; the result never clips and keeps its length.
"""

from __future__ import annotations

import functools
import math
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from edgeasr.train.voices import Voice

SAMPLE_RATE = 16000
# Bumped whenever render() gives other audio for the same inputs: corpus caches compare it and re-render.
SYNTH_VERSION = 1

# Speech detection on clean TTS output (see speech_bounds).
_DETECT_WIN_S = 0.010
_DETECT_HOP_S = 0.005
_DETECT_BELOW_PEAK_DB = 40.0
_DETECT_FLOOR_DBFS = -70.0
# Signal kept on each side of the detected bounds so that decays under the threshold are not cut.
_MARGIN_S = 0.030
_SPEECH_RMS_DBFS = -25.0   # active-speech level before the gain augmentation
_PEAK_LIMIT = 0.99         # no sample reaches full scale, so 16-bit FLAC never clips
_NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # exponent of 1/f in the power spectrum


@dataclass(frozen=True)
class AugmentConfig:
    """What :func:`render` varies per utterance; ranges are (low, high), drawn uniformly."""

    rate: tuple[float, float] = (0.85, 1.15)          # speaking rate, 1 = the engine's default
    pitch: tuple[float, float] = (35.0, 65.0)         # espeak-ng pitch 0..99 (50 = default); other engines keep theirs
    speed_prob: float = 0.5                           # speed perturbation (changes tempo and pitch, like sox speed)
    speed: tuple[float, float] = (0.9, 1.1)           # factor > 1 is faster; quantised to 0.01
    pause_prob: float = 0.3                           # one internal pause at a word boundary
    pause_s: tuple[float, float] = (0.2, 0.8)
    leading_silence_s: tuple[float, float] = (0.05, 0.3)
    trailing_silence_s: tuple[float, float] = (0.3, 1.5)  # from the end of speech to the end of the audio
    reverb_prob: float = 0.3                          # synthetic exponentially decaying noise RIR
    rt60_s: tuple[float, float] = (0.2, 0.6)
    drr_db: tuple[float, float] = (0.0, 10.0)         # direct-to-reverberant energy ratio
    noise_prob: float = 0.7                           # white, pink or brown noise, equally likely
    snr_db: tuple[float, float] = (10.0, 30.0)        # against the speech power while speech is active
    bandlimit_prob: float = 0.2                       # down to 8 kHz and back: a telephone-band channel
    gain_db: tuple[float, float] = (-10.0, 6.0)       # after normalising active speech to -25 dBFS RMS

    @classmethod
    def none(cls) -> "AugmentConfig":
        """Clean speech at the engines' default rate and pitch; silences still vary, gain is 0 dB."""
        return cls(rate=(1.0, 1.0), pitch=(50.0, 50.0), speed_prob=0.0, pause_prob=0.0, reverb_prob=0.0,
                   noise_prob=0.0, bandlimit_prob=0.0, gain_db=(0.0, 0.0))

    @classmethod
    def hard(cls) -> "AugmentConfig":
        """Harsher conditions for a development set that the model finds about as hard as unseen voices (tuning
        that needs mistakes to tune against, as the end-pointer's cut-offs do): always noise and at lower SNR,
        more and longer reverberation and telephone band, wider rate, pitch and speed; pauses and silences as the
        default."""
        return cls(rate=(0.75, 1.3), pitch=(25.0, 75.0), speed_prob=0.7, speed=(0.85, 1.15), reverb_prob=0.6,
                   rt60_s=(0.3, 0.9), drr_db=(-5.0, 10.0), noise_prob=1.0, snr_db=(0.0, 20.0), bandlimit_prob=0.4,
                   gain_db=(-20.0, 6.0))

    def validate(self) -> None:
        ranges = {"rate": (0.3, 3.0), "pitch": (0.0, 99.0), "speed": (0.5, 2.0), "pause_s": (0.0, 5.0),
                  "leading_silence_s": (0.0, 5.0), "trailing_silence_s": (0.0, 10.0), "rt60_s": (0.05, 2.0),
                  "drr_db": (-20.0, 40.0), "snr_db": (-20.0, 100.0), "gain_db": (-60.0, 40.0)}
        for name, (lo, hi) in ranges.items():
            a, b = getattr(self, name)
            if not (lo <= a <= b <= hi):
                raise ValueError(f"augment.{name}: need {lo} <= low <= high <= {hi}, got ({a}, {b})")
        for name in ("speed_prob", "pause_prob", "reverb_prob", "noise_prob", "bandlimit_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augment.{name}: a probability in [0, 1], got {getattr(self, name)}")
        if self.pause_s[0] < 2 * _MARGIN_S:
            raise ValueError(f"augment.pause_s: at least {2 * _MARGIN_S} s, got {self.pause_s}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pause:
    start: float      # seconds: where the speech before the pause ends
    end: float        # seconds: where the speech after it starts
    after_word: int   # number of words spoken before the pause


@dataclass
class Utterance:
    samples: np.ndarray      # float32 [num_samples], mono, peak <= 0.99
    sample_rate: int         # always SAMPLE_RATE
    speech_end: float        # seconds: where the last word's audio ends (before the trailing silence)
    pauses: list[Pause]
    meta: dict = field(default_factory=dict)  # speech_start, prosody and every augmentation actually applied

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


# ---------------------------------------------------------------------------------------------------------------
# Engines


def synthesize(voice: Voice, text: str, rate: float = 1.0, pitch: float = 50.0,
               timeout_s: float = 120.0) -> tuple[np.ndarray, int]:
    """Raw engine output for ``text``: (float32 mono samples, the engine's sample rate).

    ``rate`` > 1 speaks faster. ``pitch`` (0..99) applies to espeak-ng only. The text goes through a file, never
    the command line, so no text can be taken for an option.
    """
    if not text.strip():
        raise ValueError("text: empty")
    if not rate > 0:
        raise ValueError(f"rate: must be > 0, got {rate}")
    with tempfile.TemporaryDirectory(prefix="edgeasr-tts-") as tmp:
        txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        txt.write_text(text.strip() + "\n", encoding="utf-8")
        if voice.engine == "espeak-ng":
            # 175 words per minute is espeak-ng's default rate.
            cmd = ["espeak-ng", *voice.args, "-s", str(round(175 * rate)), "-p", str(round(pitch)),
                   "-w", str(wav), "-f", str(txt)]
        elif voice.engine == "flite":
            cmd = ["flite", *voice.args, "--setf", f"duration_stretch={1.0 / rate:.4f}", "-f", str(txt),
                   "-o", str(wav)]
        elif voice.engine == "festival":
            # Duration_Stretch is set after the voice, which would reset it; HTS voices ignore it.
            cmd = ["text2wave", "-eval", *voice.args, "-eval", f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})",
                   str(txt), "-o", str(wav)]
        else:
            raise ValueError(f"voice: unknown engine {voice.engine!r}")
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, cwd=tmp)
        except FileNotFoundError as e:
            raise RuntimeError(f"{voice.name}: {cmd[0]} is not installed (scripts/install_tts_deps.sh)") from e
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"{voice.name}: {cmd[0]} took over {timeout_s} s on {text!r}") from e
        if proc.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"{voice.name}: {cmd[0]} failed (exit {proc.returncode}) on {text!r}: {err[-500:]}")
        x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return np.ascontiguousarray(x[:, 0]), int(sr)


# ---------------------------------------------------------------------------------------------------------------
# Signal pieces


@functools.lru_cache(maxsize=32)
def _resampler(orig: int, new: int):
    import torch
    from lhotse.augmentation.resample import Resample

    # Kaiser-windowed sinc, 16 zero crossings each side, polyphase (one strided convolution per phase).
    with torch.no_grad():
        return Resample(orig, new, resampling_method="sinc_interp_kaiser", lowpass_filter_width=16, rolloff=0.945)


def resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Band-limited resampling of float32 mono ``x`` by the ratio ``new / orig`` (integers; only the ratio matters).
    The output has ceil(len(x) * new / orig) samples."""
    if orig == new:
        return x.astype(np.float32, copy=False)
    import torch

    g = math.gcd(orig, new)
    with torch.no_grad():
        y = _resampler(orig // g, new // g)(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None])
    return y[0].numpy().astype(np.float32, copy=False)


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times as fast (tempo and pitch change together); ``factor`` is quantised to 0.01."""
    k = round(factor * 100)
    if k <= 0:
        raise ValueError(f"factor: must be > 0, got {factor}")
    return resample(x, k, 100)  # read as if sampled at factor * rate, written back at the rate


def speech_bounds(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[int, int] | None:
    """(first, end) sample of the speech in clean TTS output, or None if there is none.

    Method: 10 ms windows every 5 ms; each window's mean is removed (diphone voices leave a DC offset in their
    silences) and its energy taken in dB. A window is speech when its energy is within 40 dB of the loudest
    window and above -70 dBFS. ``first`` is the start of the first speech window, ``end`` the end of the last one:
    accurate to about 5 ms on the clean signal, which is all it is ever applied to.
    """
    win, hop = round(_DETECT_WIN_S * sample_rate), round(_DETECT_HOP_S * sample_rate)
    if len(x) < win:
        return None
    n = (len(x) - win) // hop + 1
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64, copy=False), win)[::hop][:n]
    frames = frames - frames.mean(axis=1, keepdims=True)
    db = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-20)
    thr = max(db.max() - _DETECT_BELOW_PEAK_DB, _DETECT_FLOOR_DBFS)
    active = np.flatnonzero(db > thr)
    if active.size == 0:
        return None
    return int(active[0] * hop), int(min(len(x), active[-1] * hop + win))


def colored_noise(n: int, color: str, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f^k: white k=0, pink k=1, brown k=2 (flat below 20 Hz)."""
    if color not in _NOISE_COLORS:
        raise ValueError(f"color: one of {sorted(_NOISE_COLORS)}, got {color!r}")
    w = rng.standard_normal(n)
    k = _NOISE_COLORS[color]
    if k:
        spec = np.fft.rfft(w)
        f = np.maximum(np.fft.rfftfreq(n, 1.0 / sample_rate), 20.0)
        w = np.fft.irfft(spec * f ** (-k / 2.0), n)
    w -= w.mean()
    return (w / (np.sqrt(np.mean(w * w)) + 1e-20)).astype(np.float32)


def synthetic_rir(rt60: float, drr_db: float, rng: np.random.Generator,
                  sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A room impulse response: a direct path, then Gaussian noise under an exponential envelope that falls by
    60 dB in ``rt60`` seconds, starting 2-5 ms later (the first reflections), scaled to ``drr_db``."""
    n = int(rt60 * sample_rate)
    delay = int(rng.uniform(0.002, 0.005) * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: 60 dB of amplitude
    tail /= np.sqrt(np.sum(tail * tail))
    h = np.zeros(delay + n)
    h[0] = 10.0 ** (drr_db / 20.0)
    h[delay:] = tail
    return h


def _convolve_same(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    m = len(x) + len(h) - 1
    nfft = 1 << (m - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[: len(x)]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


# ---------------------------------------------------------------------------------------------------------------
# render


def render(text: str, voice: Voice, rng_seed: int, augment: AugmentConfig = AugmentConfig()) -> Utterance:
    """``text`` spoken by ``voice``: 16 kHz float32 with the true end of speech and the pauses (see module doc).

    The same (text, voice, rng_seed, augment) always gives the same samples.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text: a non-empty string required, got {text!r}")
    augment.validate()
    sr = SAMPLE_RATE
    rng = np.random.default_rng(rng_seed)
    words = text.split()

    # Every choice is drawn here, in a fixed order, whether or not it is used: the seed alone fixes the result.
    rate = float(rng.uniform(*augment.rate))
    pitch = float(rng.uniform(*augment.pitch))
    speed = round(float(rng.uniform(*augment.speed)), 2) if rng.random() < augment.speed_prob else 1.0
    want_pause = rng.random() < augment.pause_prob and len(words) >= 2
    split_at = int(rng.integers(1, max(2, len(words))))
    pause_len = float(rng.uniform(*augment.pause_s))
    lead = float(rng.uniform(*augment.leading_silence_s))
    trail = float(rng.uniform(*augment.trailing_silence_s))
    reverb = rng.random() < augment.reverb_prob
    rt60, drr = float(rng.uniform(*augment.rt60_s)), float(rng.uniform(*augment.drr_db))
    noisy = rng.random() < augment.noise_prob
    color = sorted(_NOISE_COLORS)[int(rng.integers(len(_NOISE_COLORS)))]
    snr = float(rng.uniform(*augment.snr_db))
    bandlimit = rng.random() < augment.bandlimit_prob
    gain = float(rng.uniform(*augment.gain_db))
    noise_seed, rir_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=2))

    def piece(t: str):
        x, engine_sr = synthesize(voice, t, rate=rate, pitch=pitch)
        x = resample(x, engine_sr, sr)
        if speed != 1.0:
            x = speed_perturb(x, speed)
        return x, speech_bounds(x, sr), engine_sr

    pieces = []
    if want_pause:
        pieces = [piece(" ".join(words[:split_at])), piece(" ".join(words[split_at:]))]
        if any(b is None for _, b, _ in pieces):  # a half with nothing audible (e.g. only punctuation)
            pieces, want_pause = [], False
    if not pieces:
        pieces = [piece(text)]
    if pieces[0][1] is None:
        raise RuntimeError(f"{voice.name} produced no audible speech for {text!r}")

    # Dry layout: each piece trimmed to its speech plus a margin, silences placed relative to the speech bounds.
    margin = round(_MARGIN_S * sr)
    parts: list[np.ndarray] = []
    pos = round(lead * sr)
    parts.append(np.zeros(pos, np.float32))
    pauses: list[Pause] = []
    speech_start = speech_end = 0
    for i, (x, (s, e), _) in enumerate(pieces):
        a, b = max(0, s - margin), min(len(x), e + margin)
        if i == 0:
            speech_start = pos + (s - a)
        else:
            gap = round(pause_len * sr) - (pos - speech_end) - (s - a)  # exact pause from speech end to start
            parts.append(np.zeros(gap, np.float32))
            pos += gap
            pauses.append(Pause(speech_end / sr, (pos + s - a) / sr, split_at))
        parts.append(x[a:b])
        speech_end = pos + (e - a)
        pos += b - a
    tail = round(trail * sr) - (pos - speech_end)
    parts.append(np.zeros(max(0, tail), np.float32))
    y = np.concatenate(parts).astype(np.float64)
    active = y[speech_start:speech_end]

    y *= 10.0 ** (_SPEECH_RMS_DBFS / 20.0) / max(_rms(active), 1e-9)
    meta: dict = {"speech_start": speech_start / sr, "rate": rate, "pitch": pitch if voice.engine == "espeak-ng"
                  else None, "speed": speed, "engine_sample_rate": pieces[0][2], "pause_s": pause_len
                  if pauses else 0.0, "leading_silence_s": speech_start / sr,
                  "trailing_silence_s": (len(y) - speech_end) / sr}
    if reverb:
        y = _convolve_same(y, synthetic_rir(rt60, drr, np.random.default_rng(rir_seed), sr))
        y *= 10.0 ** (_SPEECH_RMS_DBFS / 20.0) / max(_rms(y[speech_start:speech_end]), 1e-9)
    meta["reverb"] = {"rt60_s": rt60, "drr_db": drr} if reverb else None
    if noisy:
        noise = colored_noise(len(y), color, np.random.default_rng(noise_seed), sr).astype(np.float64)
        speech_power = np.mean(np.square(y[speech_start:speech_end]))
        y += noise * math.sqrt(speech_power / 10.0 ** (snr / 10.0))
    meta["noise"] = {"color": color, "snr_db": snr} if noisy else None
    if bandlimit:
        y = resample(resample(y.astype(np.float32), sr, 8000), 8000, sr)[: len(y)].astype(np.float64)
    meta["bandlimit_8k"] = bool(bandlimit)
    y *= 10.0 ** (gain / 20.0)
    peak = float(np.max(np.abs(y)))
    if peak > _PEAK_LIMIT:  # the gain is lowered rather than the waveform clipped
        y *= _PEAK_LIMIT / peak
        gain += 20.0 * math.log10(_PEAK_LIMIT / peak)
    meta["gain_db"] = gain
    samples = y.astype(np.float32)
    return Utterance(samples, sr, speech_end / sr, pauses, meta)
