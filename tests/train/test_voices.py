import pytest

from edgeasr.train import voices
from edgeasr.train.voices import HELD_OUT_SPEAKERS, REGISTRY, available_voices, voices_for

HELD_OUT = {"flite:slt", "festival:cmu_us_slt_arctic_hts", "festival:rab_diphone", "espeak-ng:mb-en1",
            "festival:en1_mbrola"}


def test_registry_holds_out_exactly_the_evaluation_voices():
    assert {v.name for v in REGISTRY if v.held_out} == HELD_OUT


def test_no_training_voice_is_a_held_out_speaker_under_another_engine():
    for v in REGISTRY:
        if not v.held_out:
            spoken = " ".join((v.name, *v.args)).lower()
            assert not any(s in spoken for s in HELD_OUT_SPEAKERS), v


@pytest.mark.parametrize("split", ["train", "dev"])
def test_train_and_dev_never_get_held_out_voices(split):
    chosen = voices_for(split)
    assert chosen and not any(v.held_out for v in chosen)
    assert not {v.name for v in chosen} & HELD_OUT
    # Every engine speaks in training: a broken engine must not silently narrow the data.
    assert {v.engine for v in chosen} == set(voices.ENGINES)


def test_test_split_gets_all_held_out_voices_and_nothing_else():
    assert {v.name for v in voices_for("test")} == HELD_OUT


def test_every_registered_voice_works_here():
    # scripts/install_tts_deps.sh installs them all; a missing one is a broken setup, not a reason to skip.
    assert {v.name for v in available_voices()} == {v.name for v in REGISTRY}


def test_missing_held_out_voice_fails_loudly(monkeypatch):
    ok, failed = voices._probe_all()
    without_rab = tuple(v for v in ok if v.name != "festival:rab_diphone")
    monkeypatch.setattr(voices, "_probe_all", lambda: (without_rab, failed + (("festival:rab_diphone", "gone"),)))
    with pytest.warns(RuntimeWarning, match="rab_diphone"):
        with pytest.raises(RuntimeError, match="rab_diphone"):
            voices_for("test")


def test_unknown_split_and_voice():
    with pytest.raises(ValueError, match="split"):
        voices_for("validation")
    with pytest.raises(ValueError, match="name"):
        voices.voice("espeak-ng:klingon")


def test_extended_voices_only_when_asked_for_and_never_held_out():
    base, extended = set(voices_for("train")), set(voices_for("train", extended=True))
    assert base < extended and not any(v.extended for v in base)
    assert all(v.extended and not v.held_out for v in extended - base)
    assert set(voices_for("test", extended=True)) == set(voices_for("test"))  # the held-out set never grows
