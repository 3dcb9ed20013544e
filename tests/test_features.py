import subprocess
import sys

import numpy as np
import pytest

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
    code = ("import sys, edgeasr.features; "
            "bad = [m for m in ('torch', 'lhotse') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
