import dataclasses

import numpy as np
import pytest

from edgeasr.train import synth
from edgeasr.train.synth import AugmentConfig, colored_noise, render, resample, speech_bounds
from edgeasr.train.voices import voice

TEXT = "computer set an alarm for half past five"
VOICES = ["espeak-ng:en-us", "festival:kal_diphone"]  # 22.05 kHz and 16 kHz engines
CLEAN = AugmentConfig.none()
ALL_ON = AugmentConfig(speed_prob=1.0, pause_prob=0.0, reverb_prob=1.0, noise_prob=1.0, bandlimit_prob=1.0)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


@pytest.mark.parametrize("name", VOICES)
def test_clean_render_timing(name):
    u = render(TEXT, voice(name), 7, CLEAN)
    sr, x = u.sample_rate, u.samples
    assert sr == 16000 and x.dtype == np.float32 and x.ndim == 1
    start, end = round(u.meta["speech_start"] * sr), round(u.speech_end * sr)
    assert 0.05 <= u.meta["speech_start"] < u.speech_end < u.duration
    trailing = u.duration - u.speech_end
    assert CLEAN.trailing_silence_s[0] - 1e-3 <= trailing <= CLEAN.trailing_silence_s[1] + 1e-3
    assert trailing == pytest.approx(u.meta["trailing_silence_s"], abs=1e-3)
    speech = rms(x[start:end])
    assert speech > 0.01
    # The last word ends at speech_end: loud just before it, (near) digital silence 30 ms after it.
    assert rms(x[end - 800: end]) > speech / 100
    assert np.abs(x[end + 480:]).max() < speech / 30
    assert np.abs(x[: max(0, start - 480)]).max(initial=0.0) < speech / 30


@pytest.mark.parametrize("name", VOICES)
def test_pause_lengthens_by_the_pause(name):
    pause = 0.5
    with_pause = dataclasses.replace(CLEAN, pause_prob=1.0, pause_s=(pause, pause))
    a = render(TEXT, voice(name), 3, CLEAN)
    b = render(TEXT, voice(name), 3, with_pause)
    assert a.pauses == [] and len(b.pauses) == 1
    p = b.pauses[0]
    assert p.end - p.start == pytest.approx(pause, abs=1 / 16000)
    assert 1 <= p.after_word < len(TEXT.split())
    assert b.meta["speech_start"] < p.start < p.end < b.speech_end
    # Silent inside the pause, speech on both sides of it.
    sr, x = 16000, b.samples
    inside = x[round(p.start * sr) + 480: round(p.end * sr) - 480]
    assert np.abs(inside).max() < rms(x) / 30
    # Separate halves also lengthen the phrase-final syllable a little; never by more than ~0.4 s.
    assert pause - 0.05 <= b.duration - a.duration <= pause + 0.4


@pytest.mark.parametrize("name", VOICES)
def test_augmentations_keep_length_finite_and_unclipped(name):
    dry = dataclasses.replace(ALL_ON, reverb_prob=0.0, noise_prob=0.0, bandlimit_prob=0.0)
    for seed in (1, 2):
        a = render(TEXT, voice(name), seed, dry)
        b = render(TEXT, voice(name), seed, ALL_ON)
        assert len(a.samples) == len(b.samples)
        assert a.speech_end == b.speech_end
        assert b.meta["reverb"] is not None and b.meta["noise"] is not None and b.meta["bandlimit_8k"]
        assert 0.9 <= b.meta["speed"] <= 1.1 and b.meta["speed"] == a.meta["speed"]
        assert np.isfinite(b.samples).all() and np.abs(b.samples).max() <= 0.99
        assert not np.allclose(a.samples, b.samples)
        # Noise fills the trailing silence, which is digital silence in the dry render.
        tail = slice(round((b.speech_end + 0.2) * 16000), None)
        assert rms(b.samples[tail]) > 1e-4 > rms(a.samples[tail])


def test_noise_snr_is_as_drawn():
    cfg = dataclasses.replace(CLEAN, noise_prob=1.0, snr_db=(15.0, 15.0))
    clean, noisy = render(TEXT, voice("espeak-ng:en-us"), 5, CLEAN), render(TEXT, voice("espeak-ng:en-us"), 5, cfg)
    assert noisy.meta["noise"]["snr_db"] == 15.0
    s, e = round(clean.meta["speech_start"] * 16000), round(clean.speech_end * 16000)
    # Same seed, gain 0 dB: the difference is the noise alone.
    noise = noisy.samples - clean.samples
    snr = 20 * np.log10(rms(clean.samples[s:e]) / rms(noise[s:e]))
    assert snr == pytest.approx(15.0, abs=1.0)


def test_gain_never_clips():
    cfg = dataclasses.replace(CLEAN, gain_db=(30.0, 30.0))
    u = render(TEXT, voice("espeak-ng:en-us"), 0, cfg)
    assert np.abs(u.samples).max() == pytest.approx(0.99, abs=1e-6)
    assert u.meta["gain_db"] < 30.0


def test_same_seed_same_audio_other_seed_other_audio():
    v = voice("festival:kal_diphone")
    a, b, c = (render(TEXT, v, s, AugmentConfig()) for s in (11, 11, 12))
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.meta == b.meta and a.speech_end == b.speech_end and a.pauses == b.pauses
    assert len(a.samples) != len(c.samples) or not np.array_equal(a.samples, c.samples)


def test_speech_bounds_ignores_dc_offset_in_silence():
    sr = 16000
    x = np.full(sr, 0.003, np.float32)  # a diphone voice's DC offset in its silences
    t = np.arange(8000) / sr
    x[4000:12000] += 0.5 * np.sin(2 * np.pi * 200 * t).astype(np.float32)
    s, e = speech_bounds(x, sr)
    assert abs(s - 4000) <= 160 and abs(e - 12000) <= 160
    assert speech_bounds(np.zeros(sr, np.float32), sr) is None


def test_resample_keeps_the_tone_and_removes_what_is_above_nyquist():
    t = np.arange(22050) / 22050
    y = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 22050, 16000)
    assert len(y) == 16000
    spec = np.abs(np.fft.rfft(y[2000:14000] * np.hanning(12000)))
    assert abs(np.argmax(spec) * 16000 / 12000 - 1000) < 3
    # 8 kHz band-limiting: a 6 kHz tone disappears, a 1 kHz tone stays.
    t = np.arange(16000) / 16000
    for f, kept in ((6000, False), (1000, True)):
        x = np.sin(2 * np.pi * f * t).astype(np.float32)
        z = resample(resample(x, 16000, 8000), 8000, 16000)[:16000]
        ratio = rms(z[1000:-1000]) / rms(x[1000:-1000])
        assert (ratio > 0.95) if kept else (ratio < 0.01), (f, ratio)


def test_noise_colors_slope():
    rng = np.random.default_rng(0)
    lowhigh = {}
    for color in ("white", "pink", "brown"):
        p = np.abs(np.fft.rfft(colored_noise(32000, color, rng))) ** 2
        f = np.fft.rfftfreq(32000, 1 / 16000)
        lowhigh[color] = p[(f > 100) & (f < 200)].mean() / p[(f > 4000) & (f < 8000)].mean()
    assert 0.7 < lowhigh["white"] < 1.4
    assert 10 < lowhigh["pink"] < 60            # 1/f: ~ (6000 / 150) = 40
    assert lowhigh["brown"] > 20 * lowhigh["pink"]


def test_invalid_inputs():
    with pytest.raises(ValueError, match="text"):
        render("   ", voice("espeak-ng:en-us"), 0)
    with pytest.raises(ValueError, match="snr_db"):
        render(TEXT, voice("espeak-ng:en-us"), 0, dataclasses.replace(CLEAN, snr_db=(30.0, 10.0)))
    with pytest.raises(ValueError, match="pause_prob"):
        AugmentConfig(pause_prob=1.5).validate()
    assert synth.SAMPLE_RATE == 16000


def test_the_hard_conditions_are_harsher_and_keep_the_pauses():
    hard, default = AugmentConfig.hard(), AugmentConfig()
    hard.validate()
    assert hard.noise_prob == 1.0 and hard.snr_db[1] < default.snr_db[1] and hard.snr_db[0] < default.snr_db[0]
    assert hard.reverb_prob > default.reverb_prob and hard.bandlimit_prob > default.bandlimit_prob
    # What the end-pointer is measured on stays the default's: the pauses and the silences around the speech.
    for name in ("pause_prob", "pause_s", "leading_silence_s", "trailing_silence_s"):
        assert getattr(hard, name) == getattr(default, name), name
    u = render(TEXT, voice("espeak-ng:en-us"), 3, hard)
    assert u.meta["noise"] is not None and u.speech_end > 0
