import platform
import subprocess
import sys

import numpy as np
import pytest

from edgeasr import _core
from edgeasr.features import FbankConfig, StreamingFbank, compute_fbank


def tone(freq, seconds=1.0, sr=16000, amp=0.3):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("n", [400, 401, 559, 560, 16000, 16123])
def test_shape_dtype_and_frame_count(n):
    x = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
    f = compute_fbank(x, 16000)
    assert f.dtype == np.float32 and f.shape == (1 + (n - 400) // 160, 80)
    assert f.shape[0] == FbankConfig().num_frames(n)
    assert np.isfinite(f).all()


def test_shorter_than_one_frame_gives_no_frames():
    assert compute_fbank(np.zeros(399, np.float32), 16000).shape == (0, 80)


def test_tone_peaks_in_its_mel_bin():
    cfg = FbankConfig()
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    lo, hi = mel(20.0), mel(8000.0)
    centers = lo + (np.arange(cfg.num_bins) + 1) * (hi - lo) / (cfg.num_bins + 1)
    for freq in (300.0, 1000.0, 3000.0):
        f = compute_fbank(tone(freq), 16000)
        peak = int(np.bincount(f.argmax(axis=1)).argmax())
        assert abs(peak - int(np.abs(centers - mel(freq)).argmin())) <= 1, freq


def test_deterministic_without_dither():
    x = tone(440.0)
    np.testing.assert_array_equal(compute_fbank(x, 16000), compute_fbank(x.copy(), 16000))


@pytest.mark.parametrize("chunks", [[1], [7, 160, 401], [160], [3200], [999, 1, 17]])
def test_streaming_chunks_equal_whole_clip(chunks):
    rng = np.random.default_rng(0)
    x = (tone(700.0, 1.37) + rng.normal(0, 0.01, 21920).astype(np.float32)).astype(np.float32)
    whole = compute_fbank(x, 16000)
    s = StreamingFbank()
    got, pos, i = [], 0, 0
    while pos < len(x):
        step = chunks[i % len(chunks)]
        s.accept_waveform(x[pos: pos + step])
        pos, i = pos + step, i + 1
        ready = s.frames_ready
        frames = s.get_new_frames()
        assert frames.shape == (ready, 80) and s.frames_ready == 0
        # snip_edges: every frame that fits in the samples so far is ready at once.
        assert s.num_frames_taken == FbankConfig().num_frames(min(pos, len(x)))
        got.append(frames)
    s.input_finished()
    got.append(s.get_new_frames())
    np.testing.assert_array_equal(np.concatenate(got), whole)


def test_get_new_frames_max_frames():
    s = StreamingFbank()
    s.accept_waveform(tone(500.0))
    n = s.frames_ready
    a = s.get_new_frames(max_frames=10)
    assert a.shape == (10, 80) and s.frames_ready == n - 10
    b = s.get_new_frames()
    np.testing.assert_array_equal(np.concatenate([a, b]), compute_fbank(tone(500.0), 16000)[: n])


@pytest.mark.parametrize("bad, match", [
    (np.zeros(1000, np.float64), "float32"),
    (np.zeros(1000, np.int16), "float32"),
    (np.zeros((2, 1000), np.float32), "ndim"),
    (np.zeros(0, np.float32), "empty"),
    (np.array([0.0, np.nan] * 500, np.float32), "NaN"),
    (np.array([0.0, np.inf] * 500, np.float32), "NaN"),
    (np.full(1000, 3000.0, np.float32), "32768"),
    ([0.0] * 1000, "numpy"),
])
def test_invalid_samples(bad, match):
    with pytest.raises(ValueError, match="samples") as e:
        compute_fbank(bad, 16000)
    assert match in str(e.value)


def test_sample_rate_mismatch_says_resample():
    with pytest.raises(ValueError, match="sample_rate.*resample"):
        compute_fbank(tone(440.0, sr=8000), 8000)
    with pytest.raises(ValueError, match="sample_rate"):
        StreamingFbank().accept_waveform(tone(440.0), 44100)


def test_no_audio_after_input_finished():
    s = StreamingFbank()
    s.accept_waveform(tone(440.0))
    s.input_finished()
    with pytest.raises(ValueError, match="finished"):
        s.accept_waveform(tone(440.0))


def test_config_validation():
    with pytest.raises(ValueError, match="num_bins"):
        FbankConfig(num_bins=0).validate()
    with pytest.raises(ValueError, match="frame_shift_ms"):
        FbankConfig(frame_shift_ms=30.0).validate()


def test_inference_side_imports_neither_torch_nor_lhotse():
    # nor the kaldi-native-fbank Python package: the front end is native
    code = ("import sys, edgeasr.features; "
            "bad = [m for m in ('torch', 'lhotse', 'kaldi_native_fbank') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the native front end is kaldi-native-fbank's computation, frame for frame

def _binding_frames(x: np.ndarray, config: FbankConfig = FbankConfig()) -> np.ndarray:
    import kaldi_native_fbank as knf  # a test dependency (pyproject's test extra)

    fb = knf.OnlineFbank(config.to_knf())
    fb.accept_waveform(float(config.sample_rate), x.tolist())
    fb.input_finished()
    return np.array([fb.get_frame(i) for i in range(fb.num_frames_ready)], np.float32).reshape(-1, config.num_bins)


def test_kaldi_native_fbank_package_is_the_release_built_in():
    from importlib.metadata import version
    assert version("kaldi-native-fbank") == "1.20.3"  # cmake/kaldi_native_fbank.cmake's EDGEASR_KNF_VERSION


def assert_same_as_the_package(ours: np.ndarray, package: np.ndarray) -> None:
    """Bit for bit on x86. edgeasr is built with -ffp-contract=off, so that its frames are the same on every target
    (scripts/test_aarch64_python.sh); the package's AArch64 wheels fuse multiply-adds, which moves their frames by
    about 1e-4 there."""
    if platform.machine().lower() in ("aarch64", "arm64"):
        np.testing.assert_allclose(ours, package, rtol=0, atol=1e-3)
    else:
        np.testing.assert_array_equal(ours, package)


@pytest.mark.parametrize("seed, n", [(0, 400), (1, 16000), (2, 23457), (3, 48000)])
def test_native_frames_equal_the_python_package(seed, n):
    rng = np.random.default_rng(seed)
    x = (rng.normal(0, 0.1, n) + 0.3 * np.sin(np.arange(n) * 0.05)).astype(np.float32)
    assert_same_as_the_package(compute_fbank(x, 16000), _binding_frames(x))


def test_native_frames_equal_the_python_package_at_8k_and_40_bins():
    cfg = FbankConfig(sample_rate=8000, num_bins=40)
    x = tone(440.0, 1.3, sr=8000)
    assert_same_as_the_package(compute_fbank(x, 8000, cfg), _binding_frames(x, cfg))


def test_bad_samples_leave_the_stream_as_it_was():
    x = tone(300.0)
    s = StreamingFbank()
    s.accept_waveform(x[:5000])
    bad = x[5000:9000].copy()
    bad[1234] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        s.accept_waveform(bad)
    with pytest.raises(ValueError, match="32768"):
        s.accept_waveform(np.full(4000, 3000.0, np.float32))
    s.accept_waveform(x[5000:])
    s.input_finished()
    np.testing.assert_array_equal(s.get_new_frames(), compute_fbank(x, 16000))


@pytest.mark.parametrize("kwargs, match", [
    (dict(sample_rate=0), "sample_rate"),
    (dict(num_bins=0), "num_bins"),
    (dict(num_bins=1000), "num_bins"),
    (dict(frame_length_ms=0.05, frame_shift_ms=0.05), "frame_length_ms"),
    (dict(sample_rate=8000, frame_length_ms=0.2, frame_shift_ms=0.2), "frame_length_ms"),  # a 2-point FFT crashed
    (dict(num_bins=2), "num_bins"),
    # mel triangles without an FFT bin made the library read before its vector (valgrind)
    (dict(num_bins=256), "num_bins: 256 mel bins are too many for a 400-sample window"),
    (dict(frame_length_ms=2.0, frame_shift_ms=1.0), "num_bins: 80 mel bins are too many"),
    (dict(sample_rate=8000, num_bins=256, frame_length_ms=2.0, frame_shift_ms=1.0), "too many"),
    (dict(sample_rate=32, frame_length_ms=1000.0, frame_shift_ms=500.0), "40 Hz"),
    (dict(frame_length_ms=5000.0, frame_shift_ms=10.0), "frame_length_ms"),
    (dict(frame_shift_ms=0.0), "frame_shift_ms"),
    (dict(frame_shift_ms=float("nan")), "frame_shift_ms"),
    (dict(dither=-1.0), "dither"),
])
def test_native_settings_are_checked_before_the_library_sees_them(kwargs, match):
    settings = dict(sample_rate=16000, num_bins=80, frame_length_ms=25.0, frame_shift_ms=10.0, dither=0.0,
                    snip_edges=True)
    with pytest.raises(ValueError, match=match):
        _core.StreamingFbank(**{**settings, **kwargs})


def test_native_front_end_rejects_wrong_arrays_and_negative_counts():
    s = _core.StreamingFbank(16000, 80, 25.0, 10.0, 0.0, True)
    with pytest.raises(ValueError, match="float32"):
        s.accept_waveform(np.zeros(100, np.float64))
    with pytest.raises(ValueError, match="float32"):
        s.accept_waveform(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="max_frames"):
        s.take_frames(-1)
    s.accept_waveform(tone(500.0)[::2])  # strided: read through a contiguous copy
    assert s.take_frames(1000).shape == (FbankConfig().num_frames(8000), 80)
