"""Audio input: conversion to mono float32, the resampler's accuracy and anti-aliasing, file loading."""

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from edgeasr.audio import load_audio, resample, to_mono_float32


def tone(freq, rate, seconds=1.0, amplitude=0.5, phase=0.0):
    t = np.arange(int(round(rate * seconds))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def interior(x, rate, margin_s=0.01):
    m = int(rate * margin_s)  # the filter's reach (about 3 ms) plus room: edges see zeros outside the signal
    return x[m:-m]


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# --- to_mono_float32 --------------------------------------------------------------------------------------------
def test_integer_and_float_inputs_scale_to_unit_range():
    np.testing.assert_array_equal(to_mono_float32(np.array([-32768, 0, 16384, 32767], np.int16)),
                                  np.array([-1.0, 0.0, 0.5, 32767 / 32768], np.float32))
    np.testing.assert_array_equal(to_mono_float32(np.array([-2 ** 31, 2 ** 30], np.int32)),
                                  np.array([-1.0, 0.5], np.float32))
    x64 = np.array([0.25, -0.125, 0.1])
    out = to_mono_float32(x64)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, x64.astype(np.float32))
    x32 = np.arange(10, dtype=np.float32)[::2]  # a strided view comes back contiguous
    np.testing.assert_array_equal(to_mono_float32(x32), x32)


def test_one_channel_2d_is_mono():
    frames = np.array([[100], [-200], [300]], np.int16)
    np.testing.assert_array_equal(to_mono_float32(frames), np.array([100, -200, 300], np.float32) / 32768)


@pytest.mark.parametrize("shape", [(100, 2), (50, 6), (1, 2)])
def test_several_channels_ask_the_caller_to_pick_or_mix(shape):
    with pytest.raises(ValueError, match=rf"^samples: {shape[1]} channels .*pick one channel .*mix them"):
        to_mono_float32(np.zeros(shape, np.float32))


@pytest.mark.parametrize("value, message", [
    (np.array([0.1, np.nan], np.float32), "^samples: contains NaN or infinity"),
    (np.array([np.inf, 0.0]), "^samples: contains NaN or infinity"),
    (np.zeros(0, np.float32), "^samples: empty"),
    (np.zeros((0, 1), np.int16), "^samples: empty"),
    (np.zeros(4, np.uint8), "^samples: dtype uint8 is not supported"),
    (np.zeros(4, np.int8), "^samples: dtype int8 is not supported"),
    (np.zeros(4, np.float16), "^samples: dtype float16 is not supported"),
    (np.zeros(4, np.int64), "^samples: dtype int64 is not supported"),
    (np.zeros(4, np.complex64), "^samples: dtype complex64 is not supported"),
    (np.zeros((2, 2, 2), np.float32), r"^samples: expected 1-D mono audio or \[frames, channels\]"),
    ([0.1, 0.2], "^samples: expected a numpy array, got list"),
])
def test_bad_samples_raise(value, message):
    with pytest.raises(ValueError, match=message):
        to_mono_float32(value)


# --- resample ---------------------------------------------------------------------------------------------------
def test_1khz_at_8k_to_16k_keeps_frequency_and_amplitude():
    y = resample(tone(1000, 8000), 8000, 16000)
    assert y.dtype == np.float32 and y.size == 16000
    inner = interior(y, 16000)
    # Amplitude within 1 %.
    assert abs(rms(inner) * np.sqrt(2) / 0.5 - 1) < 0.01
    # Frequency within 1 %: the spectral peak, finely interpolated by zero padding.
    spectrum = np.abs(np.fft.rfft(inner * np.hanning(inner.size), n=1 << 20))
    peak_hz = np.argmax(spectrum) * 16000 / (1 << 20)
    assert abs(peak_hz / 1000 - 1) < 0.01
    # And sample by sample: the same sine at the new rate, no delay.
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.max(np.abs(inner - interior(expected, 16000))) < 0.005


@pytest.mark.parametrize("freq", [8500, 9000, 10000, 12000, 16000, 20000, 23000])
def test_tones_above_the_new_nyquist_are_removed_going_48k_to_16k(freq):
    # Kept, each would fold back into the band (9 kHz onto 7 kHz, 20 kHz onto 4 kHz): > 40 dB down instead.
    x = tone(freq, 48000)
    y = resample(x, 48000, 16000)
    assert 20 * np.log10(rms(interior(y, 16000)) / rms(x)) < -40


@pytest.mark.parametrize("freq", [300, 3000, 7000])
def test_tones_below_the_passband_edge_pass_48k_to_16k(freq):
    # 7 kHz is inside the 16 kHz band (0.875 of its Nyquist): it must stay, as the speech it belongs to.
    y = resample(tone(freq, 48000), 48000, 16000)
    expected = 0.5 * np.sin(2 * np.pi * freq * np.arange(y.size) / 16000)
    assert np.max(np.abs(interior(y, 16000) - interior(expected, 16000))) < 0.005


@pytest.mark.parametrize("from_rate, to_rate, freq", [(44100, 16000, 3000), (22050, 16000, 5000),
                                                      (16000, 44100, 7000), (12000, 16000, 5000),
                                                      (16000, 48000, 7000), (32000, 16000, 6000)])
def test_rational_ratios_reproduce_the_sine_at_the_new_rate(from_rate, to_rate, freq):
    y = resample(tone(freq, from_rate, phase=0.3), from_rate, to_rate)
    expected = 0.5 * np.sin(2 * np.pi * freq * np.arange(y.size) / to_rate + 0.3)
    assert np.max(np.abs(interior(y, to_rate) - interior(expected, to_rate))) < 0.005


def test_upsampling_leaves_no_images():
    # 8k -> 16k: a 3 kHz tone must not bring its image at 5 kHz along.
    y = interior(resample(tone(3000, 8000, seconds=2.0), 8000, 16000), 16000)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    hz = np.fft.rfftfreq(y.size, 1 / 16000)
    image = spectrum[(hz > 4500) & (hz < 5500)].max()
    assert 20 * np.log10(image / spectrum.max()) < -60


def test_a_constant_stays_constant():
    y = resample(np.full(1000, 0.25, np.float32), 44100, 16000)
    np.testing.assert_allclose(interior(y, 16000, 0.005), 0.25, rtol=1e-5)


@pytest.mark.parametrize("from_rate, to_rate", [(8000, 16000), (48000, 16000), (44100, 16000), (16000, 44100),
                                                (22050, 16000), (16000, 16000), (3, 2), (11025, 16000)])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 100, 441, 1001])
def test_output_length_is_rounded_ratio(from_rate, to_rate, n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    y = resample(x, from_rate, to_rate)
    assert y.dtype == np.float32 and y.ndim == 1
    assert y.size == round(Fraction(n * to_rate, from_rate)) == round(n * to_rate / from_rate)
    assert np.isfinite(y).all()


def test_equal_rates_copy_and_empty_input_gives_empty_output():
    x = tone(440, 16000, 0.1)
    y = resample(x, 16000, 16000)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    assert resample(np.zeros(0, np.float32), 8000, 16000).size == 0


@pytest.mark.parametrize("args, message", [
    ((np.zeros(10, np.float64), 8000, 16000), "^samples: expected 1-D float32 audio, got float64"),
    ((np.zeros((10, 1), np.float32), 8000, 16000), r"^samples: expected 1-D float32 .*shape \(10, 1\)"),
    ((np.array([0, np.nan], np.float32), 8000, 16000), "^samples: contains NaN"),
    (([0.0], 8000, 16000), "^samples: expected a numpy array"),
    ((np.zeros(10, np.float32), 0, 16000), r"^from_rate: must lie in \[1, "),
    ((np.zeros(10, np.float32), 8000, -1), r"^to_rate: must lie in \[1, "),
    ((np.zeros(10, np.float32), 8000.0, 16000), "^from_rate: expected an integer sample rate"),
    ((np.zeros(10, np.float32), 8000, True), "^to_rate: expected an integer sample rate"),
    ((np.zeros(10, np.float32), 8000, 10 ** 9), r"^to_rate: must lie in"),
])
def test_bad_resample_arguments_raise(args, message):
    with pytest.raises(ValueError, match=message):
        resample(*args)


def test_numpy_integer_rates_are_accepted():
    assert resample(np.zeros(80, np.float32), np.int64(8000), np.int32(16000)).size == 160


# --- load_audio -------------------------------------------------------------------------------------------------
def test_load_audio_reads_int16_wav_as_float(tmp_path):
    pcm = (tone(440, 16000, 0.2) * 32767).astype(np.int16)
    sf.write(tmp_path / "a.wav", pcm, 16000, subtype="PCM_16")
    samples, rate = load_audio(tmp_path / "a.wav")
    assert rate == 16000 and samples.dtype == np.float32
    np.testing.assert_array_equal(samples, pcm.astype(np.float32) / 32768)


def test_load_audio_resamples_on_request(tmp_path):
    sf.write(tmp_path / "b.flac", tone(1000, 8000, 0.5), 8000, subtype="PCM_24")
    samples, rate = load_audio(str(tmp_path / "b.flac"), sample_rate=16000)
    assert rate == 16000 and samples.size == 8000
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 16000)
    assert np.max(np.abs(interior(samples, 16000) - interior(expected, 16000))) < 0.005


def test_load_audio_errors_name_the_file(tmp_path):
    sf.write(tmp_path / "stereo.wav", np.zeros((100, 2), np.float32), 16000)
    with pytest.raises(ValueError, match=r"stereo\.wav: samples: 2 channels .*pick one channel"):
        load_audio(tmp_path / "stereo.wav")
    with pytest.raises(ValueError, match=r"^path: cannot read audio from .*missing\.wav"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wav file")
    with pytest.raises(ValueError, match=r"^path: cannot read audio from .*junk\.wav"):
        load_audio(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="^path: expected a file path"):
        load_audio(3)
    with pytest.raises(ValueError, match="^sample_rate: must lie in"):
        load_audio(tmp_path / "stereo.wav", sample_rate=0)


def test_the_module_needs_neither_torch_nor_lhotse():
    code = ("import sys, numpy as np, edgeasr.audio as a; a.resample(np.zeros(10, np.float32), 8000, 16000); "
            "print(sorted(m for m in ('torch', 'lhotse', 'scipy') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
