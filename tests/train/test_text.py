import collections
import re

import pytest

from edgeasr.train import text
from edgeasr.train.text import KINDS, SPLITS, Request, contact_names, generate_requests, vocabulary

TRANSCRIPT = re.compile(r"[a-z']+( [a-z']+)*")


@pytest.fixture(scope="module")
def train20k():
    return generate_requests("train", 20000)


@pytest.fixture(scope="module")
def dev5k():
    return generate_requests("dev", 5000)


@pytest.fixture(scope="module")
def test2k():
    return generate_requests("test", 2000)


def contains_words(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


def test_same_seed_same_requests_and_other_seeds_or_splits_differ():
    a = generate_requests("train", 300, seed=0)
    assert a == generate_requests("train", 300, seed=0)
    other_seed = generate_requests("train", 300, seed=1)
    other_split = generate_requests("dev", 300, seed=0)
    assert sum(x.text != y.text for x, y in zip(a, other_seed)) > 250
    assert sum(x.text != y.text for x, y in zip(a, other_split)) > 250
    assert contact_names("train", seed=0) == contact_names("train", seed=0)
    assert contact_names("train", seed=0) != contact_names("train", seed=1)


def test_same_requests_in_every_process_whatever_the_string_hash_seed():
    # Sets of strings iterate in an order that depends on PYTHONHASHSEED: none may reach the generated text (Faker's
    # it_IT city list is built from one). Two processes with different seeds must write the same requests.
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib; from edgeasr.train.text import generate_requests as g, contact_names as c; "
            "print(hashlib.sha256(repr([r.text for r in g('train', 3000)] + c('test')).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                              check=True, capture_output=True, text=True).stdout.strip() for seed in (1, 2)}
    assert len(digests) == 1
    assert digests.pop() == hashlib.sha256(repr([r.text for r in generate_requests("train", 3000)]
                                               + contact_names("test")).encode()).hexdigest()


def test_request_i_does_not_depend_on_n():
    assert generate_requests("dev", 40, seed=3) == generate_requests("dev", 250, seed=3)[:40]
    assert generate_requests("train", 0) == []


def test_uids_are_split_and_index():
    requests = generate_requests("test", 12, seed=5)
    assert [r.uid for r in requests] == [f"test-{i:06d}" for i in range(12)]
    assert all(isinstance(r, Request) and r.kind in KINDS for r in requests)


def test_wake_prob_changes_only_the_prefix():
    without = generate_requests("train", 300, wake_prob=0.0)
    with_wake = generate_requests("train", 300, wake_word="hey edge", wake_prob=1.0)
    for a, b in zip(without, with_wake):
        assert b.text == "hey edge " + a.text
        assert (a.kind, a.names) == (b.kind, b.names)


@pytest.mark.parametrize("wake_prob", [0.5, 0.2])
def test_about_wake_prob_of_requests_start_with_the_wake_word(wake_prob):
    requests = generate_requests("train", 2000, seed=11, wake_prob=wake_prob)
    share = sum(r.text.startswith("computer ") for r in requests) / len(requests)
    assert abs(share - wake_prob) < 0.04  # binomial sd is 0.011 at 0.5


def test_transcripts_are_lowercase_ascii_words_without_digits(train20k, dev5k, test2k):
    for r in train20k + dev5k + test2k:
        assert TRANSCRIPT.fullmatch(r.text), r
        assert not any(c.isdigit() for c in r.text), r
    for split in SPLITS:
        for name in contact_names(split):
            assert TRANSCRIPT.fullmatch(name), name


def test_every_kind_occurs_with_a_fair_share(test2k):
    counts = collections.Counter(r.kind for r in test2k)
    assert set(counts) == set(KINDS) - {"short"}  # off unless asked for (corpus v2)
    assert min(counts.values()) > 0.03 * len(test2k)


def test_short_answers_when_asked_for_are_one_to_a_few_words_without_wake_word():
    requests = generate_requests("train", 3000, seed=1, kind_weights={"short": 20})
    short = [r for r in requests if r.kind == "short"]
    assert 0.10 * len(requests) < len(short) < 0.25 * len(requests)  # 20 of 120
    assert all(len(r.text.split()) <= 6 and not r.text.startswith("computer") for r in short)
    assert {"zero", "one", "five", "nine"} <= {r.text for r in short}  # a bare digit on its own
    # The other kinds are drawn from the same streams: asking for short answers changes only which kinds come.
    assert any(r.kind != "short" and r.text.startswith("computer ") for r in requests)


def test_kind_weights_are_checked():
    with pytest.raises(ValueError, match="unknown kind"):
        generate_requests("train", 1, kind_weights={"jokes": 1})
    with pytest.raises(ValueError, match="finite weight"):
        generate_requests("train", 1, kind_weights={"short": -1})
    with pytest.raises(ValueError, match="positive weight"):
        generate_requests("train", 1, kind_weights={k: 0 for k in KINDS})


def test_names_are_the_contacts_and_devices_the_text_mentions(train20k, test2k):
    for requests, split in ((train20k, "train"), (test2k, "test")):
        full = set(contact_names(split))
        firsts = {first for first, _ in text._contact_pairs(split, 0)}
        for r in requests:
            for name in r.names:
                assert contains_words(r.text, name), r
            if r.kind == "call":
                assert len(r.names) == 1, r
                (name,) = r.names
                assert name in full or name in firsts or name in text._RELATIONS, r
            if r.kind in ("digits", "timer", "weather", "shopping"):
                assert r.names == (), r
    smart = [r for r in train20k if r.kind == "smart_home"]
    assert sum(bool(r.names) for r in smart) > 0.8 * len(smart)


def test_test_split_surnames_never_occur_in_train_or_dev_text(train20k, dev5k, test2k):
    test_names = set(contact_names("test"))
    test_surnames = {name.split()[-1] for name in test_names}
    assert len(test_names) >= 1000 and len(test_surnames) >= 500
    seen = vocabulary(train20k) | vocabulary(dev5k)
    assert not test_surnames & set(seen)
    for seed in (0, 1):
        assert not test_names & (set(contact_names("train", seed)) | set(contact_names("dev", seed)))
    # ...and the test split does call them.
    contact_requests = [r for r in test2k if r.kind in ("call", "message")]
    with_held_out = [r for r in contact_requests if any(n.split()[-1] in test_surnames for n in r.names)]
    assert len(with_held_out) > 0.3 * len(contact_requests)


def test_dev_pairs_are_new_but_their_words_are_not():
    train, dev = set(contact_names("train")), set(contact_names("dev"))
    assert not train & dev
    assert not set(contact_names("train", seed=7)) & set(contact_names("dev", seed=2))
    train_surnames = {s for names in text._surname_split()[0].values() for s in names}
    assert all(last in train_surnames for _, last in text._contact_pairs("dev", 0))


def test_every_train_word_is_a_listed_word_or_a_train_surname(train20k):
    # What keeps test surnames out of train text for any seed and n: train text only says words that
    # _static_words() or the train/dev surname pool hold (first names also as "{first}'s").
    surname_words = {w for names in text._surname_split()[0].values() for s in names for w in s.split()}
    words = {w.removesuffix("'s") for w in vocabulary(train20k)}
    unknown = words - text._static_words() - surname_words
    assert not unknown


def test_train_vocabulary_is_large_with_thousands_of_contacts(train20k):
    vocab = vocabulary(train20k)
    assert len(vocab) > 1000
    called = {n for r in train20k if r.kind in ("call", "message") for n in r.names}
    assert len(called) > 1000
    assert sum(1 for count in vocab.values() if count == 1) > 300  # rare words exist


def test_numbers_are_spelled_out_without_and_or_hyphens(train20k):
    texts = [r.text for r in train20k]
    assert any("hundred" in t for t in texts)
    assert not any("hundred and" in t for t in texts)
    assert any(re.search(r"\b(twenty|thirty|forty|fifty) (one|two|three|four|five|six|seven|eight|nine)\b", t)
               for t in texts)
    timers = [r.text for r in train20k if r.kind == "timer"]
    assert sum(bool(re.search(r"\b(minutes?|seconds|hours?)\b", t)) for t in timers) > 0.5 * len(timers)
    digits = [r.text for r in train20k if r.kind == "digits"]
    assert any(re.search(r"(zero|one|two|three|four|five|six|seven|eight|nine)( |$)", t) for t in digits)


def test_vocabulary_counts_words_of_requests_or_strings():
    assert vocabulary(["call mom", "call dad please"]) == collections.Counter(call=2, mom=1, dad=1, please=1)
    requests = generate_requests("train", 50)
    assert sum(vocabulary(requests).values()) == sum(len(r.text.split()) for r in requests)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(split="training", n=1), "split"),
    (dict(split="train", n=-1), "n"),
    (dict(split="train", n=1.5), "n"),
    (dict(split="train", n=1, seed="0"), "seed"),
    (dict(split="train", n=1, wake_prob=1.5), "wake_prob"),
    (dict(split="train", n=1, wake_word="Computer!"), "wake_word"),
    (dict(split="train", n=1, wake_word="hey  computer"), "wake_word"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        generate_requests(**kwargs)


def test_contact_names_rejects_unknown_split():
    with pytest.raises(ValueError, match="^split:"):
        contact_names("eval")
