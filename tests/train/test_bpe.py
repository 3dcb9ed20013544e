import pytest
import sentencepiece as spm

from edgeasr.tokens import BLANK, TokenTable
from edgeasr.train.text import generate_requests
from edgeasr.train.tokens import Tokenizer, train_bpe


@pytest.fixture(scope="module")
def texts():
    return [r.text for r in generate_requests("train", 2000)]


@pytest.fixture(scope="module")
def trained(texts, tmp_path_factory):
    model_path, table = train_bpe(texts, vocab_size=256, model_prefix=tmp_path_factory.mktemp("bpe") / "bpe256")
    return model_path, table, Tokenizer(model_path)


def test_blank_is_id_zero_and_unk_id_one(trained):
    model_path, table, tokenizer = trained
    assert model_path.name == "bpe256.model" and model_path.is_file()
    assert len(table) == 256 and len(tokenizer) == 256
    assert table.pieces[:2] == (BLANK, "<unk>")
    assert tokenizer.table == table


def test_every_domain_text_round_trips(trained, texts):
    _, table, tokenizer = trained
    for t in texts:
        ids = tokenizer.encode(t)
        assert 0 not in ids and 1 not in ids
        assert table.decode(ids) == t
    assert sum(len(tokenizer.encode(t)) for t in texts) < 0.6 * sum(len(t) for t in texts)  # merges happened


def test_unseen_test_split_names_round_trip_too(trained):
    _, table, tokenizer = trained
    for r in generate_requests("test", 300):
        assert table.decode(tokenizer.encode(r.text)) == r.text


def test_round_trip_through_tokens_txt(trained, texts, tmp_path):
    _, table, tokenizer = trained
    table.write_tokens_txt(tmp_path / "tokens.txt")
    loaded = TokenTable.read_tokens_txt(tmp_path / "tokens.txt")
    assert loaded == table
    assert all(loaded.decode(tokenizer.encode(t)) == t for t in texts[:200])


def test_training_is_deterministic(trained, texts, tmp_path):
    # The model files differ only in the model_prefix they record; pieces, scores and encodings must not.
    model_path, table, tokenizer = trained
    again_path, again_table = train_bpe(texts, 256, model_prefix=tmp_path / "again")
    assert again_table == table
    first, again = (spm.SentencePieceProcessor(model_file=str(p)) for p in (model_path, again_path))
    assert [first.get_score(i) for i in range(256)] == [again.get_score(i) for i in range(256)]
    assert all(Tokenizer(again_path).encode(t) == tokenizer.encode(t) for t in texts)


def test_encode_rejects_characters_outside_the_token_set(trained):
    _, _, tokenizer = trained
    with pytest.raises(ValueError, match=r"outside the token set: \['é'\]"):
        tokenizer.encode("call zoé")


def test_bad_training_arguments(tmp_path):
    with pytest.raises(ValueError, match="^vocab_size:"):
        train_bpe(["call mom", "call dad"], vocab_size=5000, model_prefix=tmp_path / "big")
    with pytest.raises(ValueError, match="^vocab_size:"):
        train_bpe(["call mom"], vocab_size=2, model_prefix=tmp_path / "tiny")
    with pytest.raises(ValueError, match="^texts:"):
        train_bpe(["", "  "], model_prefix=tmp_path / "empty")
    with pytest.raises(ValueError, match="^model_path:"):
        Tokenizer(tmp_path / "missing.model")


def test_a_bpe_model_rebuilt_from_a_token_table_needs_its_scores_and_special_pieces(tmp_path):
    from edgeasr.tokens import TokenTable
    from edgeasr.train.tokens import bpe_model_from_table

    with pytest.raises(ValueError, match="scores"):
        bpe_model_from_table(TokenTable(["<blk>", "<unk>", "▁a"]), tmp_path / "a.model")
    with pytest.raises(ValueError, match="<blk>"):
        bpe_model_from_table(TokenTable(["<unk>", "<blk>", "▁a"], [0.0, 0.0, -1.0]), tmp_path / "b.model")
