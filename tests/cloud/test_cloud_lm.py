"""The cloud LM: configuration, training with checkpoints and resume, scoring, the LM file."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cloud_helpers import tiny_training, token_table
from edgeasr.cloud.lm import LMFileError, LSTMLM, NeuralLM, load_lm
from edgeasr.cloud.train_lm import config_from_dict, load_config, make_batches, train_lm, training_text

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def table():
    return token_table()


@pytest.fixture
def tiny_run():
    return tiny_training()


@pytest.fixture
def tiny_lm():
    return tiny_training()[0]


def test_repo_config_loads_and_is_larger_than_the_device_decoder():
    cfg = load_config(REPO / "configs" / "cloud_lm.toml")
    lm = LSTMLM(256, cfg.model)
    # The device's prediction network is an embedding over 2 tokens; the cloud LM is a deep recurrent model.
    assert cfg.model.layers >= 2 and cfg.model.hidden >= 256
    assert lm.num_parameters() > 2_000_000
    assert cfg.data.sentences_per_seed * len(cfg.data.seeds) >= 100_000


@pytest.mark.parametrize("raw, message", [
    ({"model": {"hidden": 0}}, "model.hidden"),
    ({"model": {"size": 3}}, "unknown keys"),
    ({"data": {"seeds": []}}, "data.seeds"),
    ({"optim": {"lr": -1.0}}, "optim"),
    ({"extra": {}}, "unknown tables"),
])
def test_bad_config_names_the_problem(raw, message):
    with pytest.raises(ValueError, match=message):
        config_from_dict(raw)


def test_training_text_uses_only_the_train_split():
    from edgeasr.train.text import contact_names

    cfg = config_from_dict({"data": {"seeds": [0, 1], "sentences_per_seed": 200, "dev_sentences": 50}})
    train, dev = training_text(cfg.data)
    assert len(train) == 400 and len(dev) == 50
    train_words = {w for t in train for w in t.split()}
    test_surnames = {n.split()[-1] for n in contact_names("test")}
    assert not train_words & test_surnames


def test_batches_cover_every_sentence_once_within_the_token_budget():
    lengths = [3, 10, 7, 1, 0, 12, 5, 5, 9, 2] * 7
    batches = make_batches(lengths, 40, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or (max(lengths[i] for i in b) + 1) * len(b) <= 40
    assert make_batches(lengths, 40, 1, 0) == batches and make_batches(lengths, 40, 1, 1) != batches


def test_encode_matches_the_token_table_on_unseen_names(tiny_lm, table):
    for text in ["call siobhan oyelaran", "computer text zbigniew wojciechowska i'm on my way", "", "a  b"]:
        assert tiny_lm.encode(text) == table.encode(text)
        assert tiny_lm.encode(text.split()) == table.encode(text)


def test_trained_lm_prefers_domain_text(tiny_run):
    lm, cfg, _, dev = tiny_run
    untrained = NeuralLM(LSTMLM(len(lm.tokens), cfg.model), lm.tokens)
    trained_ppl = lm.perplexity(dev[:100])["token_perplexity"]
    assert trained_ppl < 0.5 * untrained.perplexity(dev[:100])["token_perplexity"]
    assert lm.info["dev"]["token_perplexity"] == pytest.approx(lm.perplexity(dev)["token_perplexity"], rel=1e-4)
    good, scrambled = lm.score(["computer set a timer for ten minutes", "minutes ten for timer a set computer"])
    assert good > scrambled


def test_score_is_batch_independent_and_a_log_probability(tiny_lm):
    sentences = ["turn on the kitchen lights", "call mom", "play some jazz in the living room", "stop"]
    together = tiny_lm.score(sentences, batch_size=3)
    alone = [tiny_lm.score([s])[0] for s in sentences]
    assert together == pytest.approx(alone, abs=1e-4)
    assert all(s < 0 for s in together)
    # The probabilities of all one-token continuations of <s> and then </s> sum to at most 1.
    singles = tiny_lm.score([[p.lstrip("\u2581")] for p in tiny_lm.tokens.pieces[2:] if p.startswith("\u2581")
                             and len(tiny_lm.encode(p.lstrip("\u2581"))) == 1])
    assert sum(math.exp(s) for s in singles) <= 1.0 + 1e-6


def test_lm_file_round_trip_and_bad_files(tiny_lm, tmp_path):
    path = tiny_lm.save(tmp_path / "lm.pt")
    again = load_lm(path)
    s = ["set an alarm for seven a m", "call siobhan oyelaran"]
    assert again.score(s) == pytest.approx(tiny_lm.score(s), abs=1e-5)
    assert again.info["dev"]["sentences"] == 300
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(LMFileError, match="not a readable torch file"):
        load_lm(tmp_path / "junk.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(LMFileError, match="not an edgeasr.cloud_lm file"):
        load_lm(tmp_path / "other.pt")
    with pytest.raises(LMFileError, match="does not exist"):
        load_lm(tmp_path / "missing.pt")


def _cfg(out_dir, max_steps):
    return config_from_dict({
        "model": {"embed_dim": 16, "hidden": 16, "layers": 2, "dropout": 0.1},
        "data": {"seeds": [3], "sentences_per_seed": 400, "dev_sentences": 20},
        "optim": {"lr": 5e-3, "warmup_steps": 2, "min_lr_ratio": 1.0, "epochs": 2, "batch_tokens": 300},
        "run": {"out_dir": str(out_dir), "checkpoint_every": 3, "log_every": 5, "max_steps": max_steps},
    })


def test_resume_continues_where_the_checkpoint_left_off(tmp_path, table):
    train, dev = training_text(_cfg(tmp_path, 0).data)
    straight, p1 = train_lm(_cfg(tmp_path / "a", 30), train, dev, table, log=lambda m: None)
    _, first = train_lm(_cfg(tmp_path / "b", 12), train, dev, table, log=lambda m: None)
    assert first["step"] == 12 and (tmp_path / "b" / "checkpoint-latest.pt").is_file()
    logs = []
    resumed, p2 = train_lm(_cfg(tmp_path / "b", 30), train, dev, table, log=logs.append)
    assert "resuming at step 12" in logs[0]
    assert p1["step"] == p2["step"] == 30
    # Same batches, same dropout masks (RNG state in the checkpoint), same constant learning rate: same weights.
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert (tmp_path / "b" / "lm.pt").is_file()


def test_resume_refuses_another_token_table(tmp_path, table):
    from edgeasr.tokens import TokenTable

    train, dev = training_text(_cfg(tmp_path, 0).data)
    train_lm(_cfg(tmp_path, 3), train, dev, table, log=lambda m: None)
    other = TokenTable(list(table.pieces[:-1]) + ["\u2581zzz"], list(table.scores))
    with pytest.raises(ValueError, match="another token table"):
        train_lm(_cfg(tmp_path, 6), train, dev, other, log=lambda m: None)


def test_command_line_reports_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nhidden = -3\n")
    run = subprocess.run([sys.executable, "-m", "edgeasr.cloud.train_lm", "--config", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "model.hidden" in run.stderr and "Traceback" not in run.stderr


def test_device_modules_import_neither_torch_nor_fastapi():
    code = ("import sys, edgeasr.cloud.client, edgeasr.cloud.rescore; "
            "bad = [m for m in ('torch', 'fastapi', 'uvicorn', 'starlette') if m in sys.modules]; "
            "assert not bad, bad")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
