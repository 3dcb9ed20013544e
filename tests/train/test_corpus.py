import json
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

from edgeasr.features import FbankConfig, compute_fbank
from edgeasr.train import corpus
from edgeasr.train.corpus import build_corpus, corpus_dir, load_cuts, load_features
from edgeasr.train.voices import voices_for


@dataclass(frozen=True)
class Req:  # the fields build_corpus reads from edgeasr.train.text.Request
    uid: str
    text: str
    kind: str
    names: tuple[str, ...]


REQUESTS = [
    Req("train-000000", "computer call maria jones", "call", ("maria jones",)),
    Req("train-000001", "set a timer for five minutes", "timer", ()),
    Req("train-000002", "turn off the kitchen lights", "smart_home", ("kitchen lights",)),
    Req("train-000003", "what is the weather tomorrow", "weather", ()),
]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEASR_CACHE", str(tmp_path))
    return tmp_path


def last_build(name, split):
    return json.loads((corpus_dir(name, split) / "build_log.jsonl").read_text().splitlines()[-1])


def test_tiny_corpus_manifests_features_and_cache(cache):
    build_corpus("tiny", "train", 4, seed=0, workers=2, requests=REQUESTS)
    d = cache / "corpora" / "tiny" / "train"
    assert corpus_dir("tiny", "train") == d
    assert last_build("tiny", "train")["rendered"] == 4

    cuts = load_cuts("tiny", "train")
    assert [c.id for c in cuts] == [r.uid for r in REQUESTS]
    train_voices = {v.name for v in voices_for("train")}
    feats = load_features("tiny", "train")
    for cut, req in zip(cuts, REQUESTS):
        sup = cut.supervisions[0]
        assert sup.text == req.text and sup.speaker in train_voices and sup.speaker == sup.custom["voice"]
        assert sup.custom["kind"] == req.kind and tuple(sup.custom["names"]) == req.names
        assert 0 < sup.custom["speech_start"] < sup.custom["speech_end"] < cut.duration
        assert cut.duration - sup.custom["speech_end"] >= 0.3 - 1e-3
        assert {"gain_db", "noise", "reverb", "speed", "bandlimit_8k"} <= set(sup.custom["augment"])
        audio = cut.load_audio()
        assert audio.shape == (1, cut.recording.num_samples) and cut.sampling_rate == 16000
        assert np.abs(audio).max() > 0.01
        f = feats[cut.id]
        assert f.shape == (FbankConfig().num_frames(cut.recording.num_samples), 80)
        x, sr = sf.read(cut.recording.sources[0].source, dtype="float32")
        np.testing.assert_array_equal(f, compute_fbank(x, sr))
    # Voices go round-robin: four utterances, four different voices.
    assert len({c.supervisions[0].speaker for c in cuts}) == 4

    flacs = sorted((d / "audio").glob("*.flac"))
    assert len(flacs) == 4 and not list(d.rglob(".tmp*"))
    before = {p: p.stat().st_mtime_ns for p in flacs}
    build_corpus("tiny", "train", 4, seed=0, workers=1, requests=REQUESTS)
    assert last_build("tiny", "train") | {"time": 0, "wall_s": 0} == {
        "time": 0, "wall_s": 0, "rendered": 0, "cached": 4, "failed": 0, "rendered_audio_s": 0, "workers": 1}
    assert {p: p.stat().st_mtime_ns for p in flacs} == before

    # A changed request under the same uid is rendered again; the others stay cached.
    changed = [Req(REQUESTS[0].uid, "computer call maria smith", "call", ("maria smith",))]
    build_corpus("tiny", "train", 4, seed=0, workers=1, requests=changed + REQUESTS[1:])
    assert last_build("tiny", "train")["rendered"] == 1
    assert load_cuts("tiny", "train")[0].supervisions[0].text == "computer call maria smith"


def test_test_split_is_spoken_by_held_out_voices_from_the_generator(cache):
    cuts = build_corpus("gen", "test", 3, seed=1, workers=1, features=False)
    held_out = {v.name for v in voices_for("test")}
    assert len(cuts) == 3 and {c.supervisions[0].speaker for c in cuts} <= held_out
    assert all(c.id.startswith("test-") for c in cuts)
    assert not (corpus_dir("gen", "test") / "feats.npy").exists()


def test_invalid_arguments(cache):
    with pytest.raises(ValueError, match="split"):
        corpus_dir("v1", "eval")
    with pytest.raises(ValueError, match="name"):
        corpus_dir("../up", "train")
    with pytest.raises(ValueError, match="unique"):
        build_corpus("x", "train", 2, requests=[REQUESTS[0], REQUESTS[0]])
    with pytest.raises(ValueError, match="requests"):
        build_corpus("x", "train", 3, requests=REQUESTS[:2])
    with pytest.raises(FileNotFoundError, match="not built"):
        load_cuts("never", "dev")


def test_voice_assignment_is_balanced_and_seeded():
    vs = voices_for("train")
    uids = [f"u{i}" for i in range(3 * len(vs) + 2)]
    a = corpus.assign_voices(uids, vs, seed=5)
    counts = {v.name: 0 for v in vs}
    for v in a:
        counts[v.name] += 1
    assert max(counts.values()) - min(counts.values()) <= 1
    assert a == corpus.assign_voices(uids, vs, seed=5) != corpus.assign_voices(uids, vs, seed=6)


def test_extra_training_corpora_join_the_train_split_with_unique_uids(cache):
    from edgeasr.train.config import DataConfig, RunConfig, TrainConfig
    from edgeasr.train.data import load_training_data
    from edgeasr.train.tokens import train_bpe

    build_corpus("base", "train", 2, seed=0, workers=1, requests=REQUESTS[:2])
    build_corpus("base", "dev", 1, seed=0, workers=1, requests=[Req("dev-000000", "stop the music", "media", ())])
    build_corpus("more", "train", 2, seed=0, workers=1, requests=REQUESTS[2:])
    run = cache / "run"
    run.mkdir()
    train_bpe([r.text for r in REQUESTS] * 20, 30, model_prefix=run / "bpe")
    cfg = TrainConfig(data=DataConfig(corpus="base", extra_train=("more",), vocab_size=30),
                      run=RunConfig(out_dir=str(run)))
    cfg.model.vocab_size = 30
    train, dev, _ = load_training_data(cfg)
    assert [u.text for u in train] == [r.text for r in REQUESTS] and [u.text for u in dev] == ["stop the music"]
    # Both corpora count from train-000000: the extra one's uids carry its name.
    assert [u.uid for u in train] == ["train-000000", "train-000001", "more/train-000002", "more/train-000003"]
    assert all(u.load_features().shape[0] == u.num_frames for u in train)
    # Each utterance knows how many frames precede its speech (the synthesized lead), for onset cropping.
    from edgeasr.train.corpus import load_cuts

    starts = {c.id: c.supervisions[0].custom["speech_start"] for c in load_cuts("base", "train")}
    assert all(u.lead_frames == int(starts[u.uid] * 100) >= 5 for u in train[:2])


def test_recipes_name_how_a_corpus_is_built():
    assert corpus.RECIPES["v1"] == corpus.Recipe()  # v1 rebuilds exactly as it was built
    v2 = corpus.RECIPES["v2"]
    assert v2.seed != 0 and dict(v2.kind_weights)["short"] > 0 and v2.extended_voices
    v3 = corpus.RECIPES["v3"]
    assert v3.seed not in (0, v2.seed) and v3.extended_voices and v3.augment == "hard"
    v4 = corpus.RECIPES["v4"]
    assert v4.seed not in (0, v2.seed, v3.seed) and v4.extended_voices and v4.augment == "default"
    assert all(r.augment in corpus.AUGMENTS for r in corpus.RECIPES.values())


def test_a_corpus_builds_with_its_recipes_augmentation_unless_told(cache, monkeypatch):
    """build_corpus and the command line alike: ``--name v3`` alone rebuilds v3 as it was built."""
    seen = []

    def render_nothing(fn, jobs, workers, desc):  # records the augmentation, then every utterance "fails"
        seen.append(jobs[0].augment)
        return iter([{"uid": j.uid, "failed": "not rendered in this test"} for j in jobs])

    monkeypatch.setattr(corpus, "_map", render_nothing)
    with pytest.raises(RuntimeError):
        corpus.build_corpus("v3", "train", 1, workers=1, features=False)
    for args in ([], ["--augment", "default"]):
        with pytest.raises(RuntimeError):
            corpus.main(["--name", "v3", "--split", "train", "--n", "1", "--workers", "1", "--no-features", *args])
    with pytest.raises(RuntimeError):
        corpus.build_corpus("other", "train", 1, workers=1, features=False)
    assert seen == [corpus.AugmentConfig.hard(), corpus.AugmentConfig.hard(), corpus.AugmentConfig(),
                    corpus.AugmentConfig()]


def test_phrase_requests_draw_the_files_phrases_seeded(tmp_path):
    from edgeasr.train.corpus import phrase_requests

    f = tmp_path / "commands.txt"
    f.write_text("# commands\nlights on\n\nstop\nvolume up\n")
    a = phrase_requests(f, "commands", "test", 60, 0)
    assert [r.uid for r in a[:2]] == ["test-000000", "test-000001"]
    assert {r.text for r in a} == {"lights on", "stop", "volume up"} and {r.kind for r in a} == {"command"}
    assert a == phrase_requests(f, "commands", "test", 60, 0) != phrase_requests(f, "commands", "test", 60, 1)
    f.write_text("Lights On\n")
    with pytest.raises(ValueError, match="lowercase words"):
        phrase_requests(f, "commands", "test", 5, 0)
