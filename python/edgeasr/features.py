"""Log-mel filterbank features, computed the same streaming way in training and at inference (kaldi-native-fbank).

The computation is kaldi-native-fbank's online fbank, built from its C++ sources into edgeasr's native module
(``edgeasr._core.StreamingFbank``, release 1.20.3, cmake/kaldi_native_fbank.cmake): samples go in as one buffer
and frames come out as one array, with no Python object per sample or per frame and without the GIL. Samples are
float32 in [-1, 1] at the configured rate (not scaled to the int16 range: the features of a model are those it was
trained on, and both sides call this module). Inference side: numpy and the native module only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeasr import _core

__all__ = ["FbankConfig", "StreamingFbank", "compute_fbank"]


@dataclass(frozen=True)
class FbankConfig:
    """Kaldi-compatible fbank settings. Fields not listed keep kaldi-native-fbank's defaults, which are Kaldi's:
    povey window, pre-emphasis 0.97, DC offset removed per frame, FFT size rounded up to 512, power spectrum,
    log with a floor of float32 epsilon, mel bins between 20 Hz and Nyquist, no energy term."""

    sample_rate: int = 16000
    num_bins: int = 80            # mel bins: the feature dimension
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0           # no random noise: the same audio always gives the same features
    snip_edges: bool = True       # frames lie wholly inside the audio: T = 1 + (N - 400) // 160 at 16 kHz, so a
                                  # streaming frame never waits on samples after the frame itself

    def validate(self) -> None:
        """ValueError naming the first setting the front end cannot take. The ranges first, on any numbers; then
        the native front end's own checks (a window too short for the FFT, or with too few FFT bins for the mel
        bins), the ones it runs before every stream."""
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate: must be > 0, got {self.sample_rate}")
        if not 3 <= self.num_bins <= 256:  # Kaldi's mel banks need 3
            raise ValueError(f"num_bins: must be in [3, 256], got {self.num_bins}")
        if not 0 < self.frame_shift_ms <= self.frame_length_ms:
            raise ValueError(f"frame_shift_ms: must be in (0, frame_length_ms], got {self.frame_shift_ms}")
        if self.dither < 0:
            raise ValueError(f"dither: must be >= 0, got {self.dither}")
        _core.check_fbank_settings(*self._native_args())

    def _native_args(self) -> tuple:
        return (self.sample_rate, self.num_bins, self.frame_length_ms, self.frame_shift_ms, self.dither,
                self.snip_edges)

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def shift_samples(self) -> int:
        return round(self.sample_rate * self.frame_shift_ms / 1000)

    def num_frames(self, num_samples: int) -> int:
        """Frames that ``num_samples`` samples yield once input is finished."""
        win, shift = self.window_samples, self.shift_samples
        if self.snip_edges:
            return 0 if num_samples < win else 1 + (num_samples - win) // shift
        return (num_samples + shift // 2) // shift

    # Mel band edges: kaldi-native-fbank's defaults, which the native front end keeps (0: Nyquist).
    low_freq_hz = 20.0
    high_freq_hz = 0.0

    def to_knf(self):
        """These settings as the kaldi-native-fbank Python package's FbankOptions (to compare with it; the package
        is a test and benchmark dependency, not an inference one)."""
        import kaldi_native_fbank as knf

        self.validate()
        opts = knf.FbankOptions()
        opts.frame_opts.samp_freq = float(self.sample_rate)
        opts.frame_opts.frame_length_ms = float(self.frame_length_ms)
        opts.frame_opts.frame_shift_ms = float(self.frame_shift_ms)
        opts.frame_opts.dither = float(self.dither)
        opts.frame_opts.snip_edges = bool(self.snip_edges)
        opts.mel_opts.num_bins = int(self.num_bins)
        return opts


def _check_samples(samples: np.ndarray, name: str = "samples") -> np.ndarray:
    """Type, dtype and shape; NaN, infinity and int16-scaled values are the native front end's checks (one pass)."""
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(samples).__name__}")
    if samples.dtype != np.float32:
        raise ValueError(f"{name}: expected float32 in [-1, 1], got {samples.dtype} "
                         "(convert int16 audio with samples.astype(np.float32) / 32768)")
    if samples.ndim != 1:
        raise ValueError(f"{name}: expected mono audio with ndim 1, got shape {samples.shape}")
    return np.ascontiguousarray(samples)


def _check_rate(sample_rate: int, config: FbankConfig) -> None:
    if sample_rate != config.sample_rate:
        raise ValueError(f"sample_rate: features are computed at {config.sample_rate} Hz, got {sample_rate} Hz; "
                         f"resample to {config.sample_rate} Hz first (the caller's job: the model was trained on "
                         "one rate, and the resampler is a choice the application makes)")


class StreamingFbank:
    """Incremental fbank for one stream: feed chunks of any size, take the frames that are ready.

    ``accept_waveform`` any number of times, ``get_new_frames`` whenever convenient, ``input_finished`` at the end
    (then the last frames become ready). The frames are exactly those of :func:`compute_fbank` on the whole audio.
    Frames handed out are released from the underlying buffer, so a long stream keeps no history.
    """

    def __init__(self, config: FbankConfig = FbankConfig()):
        self.config = config
        self._fbank = _core.StreamingFbank(*config._native_args())  # validates the settings

    def accept_waveform(self, samples: np.ndarray, sample_rate: int | None = None) -> None:
        """Append ``samples`` (float32, mono, [-1, 1]); ``sample_rate`` defaults to the config's and must match it.
        Bad samples raise ValueError and leave the stream as it was."""
        _check_rate(self.config.sample_rate if sample_rate is None else sample_rate, self.config)
        self._fbank.accept_waveform(_check_samples(samples))

    def input_finished(self) -> None:
        """No more audio: the frames that waited for it become ready."""
        self._fbank.input_finished()

    @property
    def finished(self) -> bool:
        return self._fbank.finished

    @property
    def num_frames_taken(self) -> int:
        """Frames already returned by ``get_new_frames``."""
        return self._fbank.frames_taken

    @property
    def frames_ready(self) -> int:
        """Frames ready and not yet returned."""
        return self._fbank.frames_ready

    def get_new_frames(self, max_frames: int | None = None) -> np.ndarray:
        """The next ready frames, at most ``max_frames`` of them: float32 [n, num_bins] (n may be 0)."""
        return self._fbank.take_frames(self.frames_ready if max_frames is None else int(max_frames))


def compute_fbank(samples: np.ndarray, sample_rate: int, config: FbankConfig = FbankConfig()) -> np.ndarray:
    """Log-mel features of a whole clip: float32 [T, num_bins], T = ``config.num_frames(len(samples))``.

    Raises ValueError for anything but 1-D finite float32 audio in [-1, 1], for empty audio, and for a sample rate
    other than ``config.sample_rate``.
    """
    samples = _check_samples(samples)
    if samples.size == 0:
        raise ValueError("samples: empty")
    _check_rate(sample_rate, config)
    stream = StreamingFbank(config)
    stream.accept_waveform(samples)
    stream.input_finished()
    return stream.get_new_frames()
