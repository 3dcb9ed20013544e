"""Packed training data (edgeasr.train.packed): what a GPU machine without the corpus trains on."""

import json
import lzma
import struct

import numpy as np
import pytest

from edgeasr.tokens import TokenTable
from edgeasr.train.batching import Utterance
from edgeasr.train.packed import MAGIC, PackError, load_pack, load_packs, load_training_data, pack_path, pack_utterances
from edgeasr.train.config import DataConfig, TrainConfig
from edgeasr.train.model import ModelConfig

TABLE = TokenTable(["<blk>", "▁a", "▁b", "c"])


def utterances(n=5, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        # Log-mel-like frames: a slow drift plus noise, between about -16 and 5.
        t = int(rng.integers(1, 60))
        feats = (-6 + 3 * np.cumsum(rng.standard_normal((t, 8)) * 0.3, axis=0).clip(-3, 3)).astype(np.float32)
        out.append(Utterance(uid=f"u{i}", voice=f"v{i % 2}", text="a b c", num_frames=t, tokens=[1, 2, 3][: 1 + i % 3],
                             load_features=lambda f=feats: f, lead_frames=i))
    return out


@pytest.mark.parametrize("step", [0.5, 0.25])
def test_round_trip_keeps_everything_but_rounds_features_within_half_a_step(tmp_path, step):
    utts = utterances()
    path = pack_utterances(utts, TABLE, tmp_path / "x.pack", step=step)
    back, table = load_pack(path)
    assert table.pieces == TABLE.pieces
    assert [(u.uid, u.voice, u.text, u.tokens, u.num_frames, u.lead_frames) for u in back] == \
        [(u.uid, u.voice, u.text, u.tokens, u.num_frames, u.lead_frames) for u in utts]
    for a, b in zip(utts, back):
        err = np.abs(a.load_features() - b.load_features()).max()
        assert err <= step / 2 + 1e-5
        assert b.load_features().dtype == np.float32


def test_a_frame_jump_too_large_for_int8_is_refused(tmp_path):
    feats = np.zeros((3, 4), np.float32)
    feats[1] = 100.0  # 200 steps of 0.5
    u = Utterance(uid="jump", voice="v", text="a", num_frames=3, tokens=[1], load_features=lambda: feats)
    with pytest.raises(ValueError, match="jump.*does not fit int8"):
        pack_utterances([u], TABLE, tmp_path / "x.pack")


def _without_lead(data: bytes) -> bytes:
    """The decompressed pack with the first utterance's lead_frames removed from its header."""
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n])
    del header["utterances"][0]["lead_frames"]
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def test_bad_files_raise_pack_errors(tmp_path):
    path = pack_utterances(utterances(), TABLE, tmp_path / "x.pack")
    raw = path.read_bytes()
    cases = {
        "not a pack": b"hello" + raw,
        "truncated": raw[: len(raw) // 2],
        "wrong payload": MAGIC + lzma.compress(lzma.decompress(raw[len(MAGIC):])[:-3]),
        "an entry without its lead": MAGIC + lzma.compress(_without_lead(lzma.decompress(raw[len(MAGIC):]))),
    }
    for name, data in cases.items():
        bad = tmp_path / "bad.pack"
        bad.write_bytes(data)
        with pytest.raises(PackError):
            load_pack(bad)
    with pytest.raises(ValueError, match="no pack files"):
        load_packs([])


def test_training_data_from_packs_uses_the_corpus_and_split_names(tmp_path):
    utts = utterances(6)
    pack_utterances(utts[2:4], TABLE, pack_path(tmp_path, "v1", "train", 1))  # parts are read in part order
    pack_utterances(utts[:2], TABLE, pack_path(tmp_path, "v1", "train", 0))
    pack_utterances(utts[4:], TABLE, pack_path(tmp_path, "v1", "dev", 0))
    cfg = TrainConfig(model=ModelConfig(num_features=8, vocab_size=4), data=DataConfig(corpus="v1", vocab_size=4))
    train, dev, table = load_training_data(cfg, tmp_path)
    assert [u.uid for u in train] == ["u0", "u1", "u2", "u3"] and [u.uid for u in dev] == ["u4", "u5"]
    assert table.pieces == TABLE.pieces
    cfg.data.extra_train = ("v2",)
    with pytest.raises(FileNotFoundError, match="v2-train"):
        load_training_data(cfg, tmp_path)
