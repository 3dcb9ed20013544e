import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

import edgeasr
from edgeasr.tokens import BLANK, WORD_START, TokenTable

W = WORD_START
PIECES = ["<blk>", "<unk>", W + "call", W + "s", "i", "ob", "han", W + "mom", W + "o'", "brien", W]


@pytest.fixture
def table():
    return TokenTable(PIECES)


def test_exported_from_the_package():
    assert edgeasr.TokenTable is TokenTable
    assert "TokenTable" in edgeasr.__all__


def test_lookups(table):
    assert len(table) == len(PIECES)
    assert table.pieces == tuple(PIECES)
    assert table.blank_id == 0 and table[0] == BLANK
    assert table[np.int64(2)] == W + "call"
    assert table.id_of(W + "mom") == 7
    assert [table.starts_word(i) for i in range(len(table))] == [p.startswith(W) for p in PIECES]
    with pytest.raises(ValueError, match="not in the token table"):
        table.id_of("mom")


def test_decode_joins_pieces_into_words(table):
    assert table.decode([2, 3, 4, 5, 6]) == "call siobhan"
    assert table.decode([0, 2, 0, 0, 3, 4, 0, 5, 6, 0]) == "call siobhan"  # blanks vanish
    assert table.decode([2, 8, 9]) == "call o'brien"
    assert table.decode(np.array([7, 10, 2], dtype=np.int32)) == "mom call"  # a lone "▁" is a word break
    assert table.decode([4, 7]) == "i mom"  # a leading continuation piece still starts the text
    assert table.decode([]) == "" and table.decode([0, 0]) == ""


@pytest.mark.parametrize("ids, message", [([len(PIECES)], "outside"), ([-1], "outside"), ([2, "x"], "integer"),
                                          ([1.0], "integer")])
def test_decode_rejects_bad_ids(table, ids, message):
    with pytest.raises(ValueError, match=f"token id: .*{message}"):
        table.decode(ids)


@pytest.mark.parametrize("pieces, message", [
    (["<blk>", "a", "b", "a"], r"pieces\[3\]: duplicate piece 'a' \(also id 1\)"),
    (["<blk>", "a", ""], r"pieces\[2\]: empty piece"),
    (["a", "<blk>", "b"], r"pieces\[0\]: expected the blank '<blk>' at id 0, got 'a' \(blank at id 1\)"),
    (["<unk>", "a"], r"pieces\[0\]: .*blank missing"),
    (["<blk>"], r"need the blank and at least one token"),
    ([], r"need the blank and at least one token"),
    (["<blk>", "a b"], r"pieces\[1\]: 'a b' contains whitespace"),
    (["<blk>", 3], r"pieces\[1\]: expected a string"),
    ("<blk>ab", r"pieces: expected a sequence"),
])
def test_bad_tables_raise_value_error_naming_the_problem(pieces, message):
    with pytest.raises(ValueError, match=message):
        TokenTable(pieces)


def test_json_round_trip(table):
    text = table.to_json()
    assert json.loads(text)["pieces"] == PIECES
    assert W in text  # kept as the character, not escaped
    again = TokenTable.from_json(text)
    assert again == table and hash(again) == hash(table)
    assert TokenTable.from_json(text.encode()) == table


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ('{"pieces": ["<blk>", "a"]}', "not an edgeasr.tokens object"),
    ('{"format": "edgeasr.tokens", "version": 99, "pieces": ["<blk>", "a"]}', "version 99"),
    ('{"format": "edgeasr.tokens", "version": 1, "pieces": "<blk>"}', "must be a list"),
    ('{"format": "edgeasr.tokens", "version": 1, "pieces": ["a", "<blk>"]}', "blank"),
])
def test_from_json_rejects_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        TokenTable.from_json(text)


def test_tokens_txt_is_piece_space_id_per_line(table, tmp_path):
    path = tmp_path / "tokens.txt"
    table.write_tokens_txt(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["<blk> 0", "<unk> 1", W + "call 2"]
    assert lines == [f"{p} {i}" for i, p in enumerate(PIECES)]
    assert TokenTable.read_tokens_txt(path) == table
    # Order of lines does not matter, ids do.
    path.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    assert TokenTable.read_tokens_txt(path) == table


@pytest.mark.parametrize("content, message", [
    ("<blk> 0\na 2\n", r"ids must be 0\.\.1; missing \[1\]"),
    ("<blk> 0\na 1\nb 1\n", r":3: id 1 appears twice"),
    ("<blk> 0\na\n", r":2: expected 'piece id'"),
    ("<blk> 0\na x\n", r":2: expected 'piece id'"),
    ("a 0\n<blk> 1\n", r"blank"),
])
def test_read_tokens_txt_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "tokens.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        TokenTable.read_tokens_txt(path)


LETTERS = "abcdefghijklmnopqrstuvwxyz'"
CHAR_TABLE = TokenTable([BLANK] + list(LETTERS) + [W + c for c in LETTERS])


@given(st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=8), min_size=0, max_size=6),
       st.lists(st.integers(0, 3), min_size=64, max_size=64))
def test_decode_inverts_a_character_level_encoding(words, blanks):
    # Spell each word as "▁" + first letter, then letters, with blanks sprinkled in as a transducer emits them.
    ids = []
    for word in words:
        ids.append(CHAR_TABLE.id_of(W + word[0]))
        ids.extend(CHAR_TABLE.id_of(c) for c in word[1:])
    sprinkled = []
    for k, token in enumerate(ids):
        sprinkled.extend([0] * blanks[k % len(blanks)])
        sprinkled.append(token)
    assert CHAR_TABLE.decode(sprinkled) == " ".join(words)
