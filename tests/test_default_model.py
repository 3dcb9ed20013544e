"""The model shipped in the package: present, small, int4 (quantization-aware trained), and it runs on the bundled
clip."""

from edgeasr import Recognizer, load_audio, load_model
from edgeasr.recognizer import default_model_path


def test_the_bundled_default_model_is_a_small_int4_model_file():
    path = default_model_path()
    assert path.is_file()
    assert path.stat().st_size < 5 * 1024 * 1024
    model = load_model(path)
    assert set(model.weights_format.values()) == {"dense_q4"}


def test_the_bundled_model_transcribes_the_bundled_clip_into_words_of_its_vocabulary():
    samples, rate = load_audio(default_model_path().parent / "example.wav")
    result = Recognizer().transcribe(samples, rate).result()
    assert result.final and result.words
    assert all(0.0 <= w.confidence <= 1.0 and w.start < w.end <= len(samples) / rate + 0.1 for w in result.words)
