import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

import edgeasr
from edgeasr.tokens import BLANK, UNK, WORD_START, TokenTable

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


def test_word_continuations_are_the_pieces_inside_words(table):
    assert table.word_continuations() == [4, 5, 6, 9]  # i, ob, han, brien; not the blank, <unk> or "▁..."


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


# --- scores and encoding ----------------------------------------------------------------------------------------
# A hand-made BPE table: scores decide the merge order; characters score lowest, as in a trained model.
BPE_PIECES = ["<blk>", "<unk>", W + "c", "al", W + "cal", W + "call", "l", "ll", W, "c", "a", "o", "b", "ob", "lob"]
BPE_SCORES = [0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -10.0, -0.5, -11.0, -12.0, -13.0, -14.0, -15.0, -6.0, -7.0]


@pytest.fixture
def bpe():
    return TokenTable(BPE_PIECES, BPE_SCORES)


def test_encode_merges_the_best_scoring_pair_first(bpe):
    ids = {p: i for i, p in enumerate(BPE_PIECES)}
    # "▁call": "ll" (-0.5) merges before "▁c" (-1); "al" then has no "l" left, and "▁c" + "a" is no piece.
    assert bpe.encode("call") == [ids[W + "c"], ids["a"], ids["ll"]]
    # "▁cal": "▁c" (-1), then "al" (-2), then "▁c" + "al" = "▁cal" (-3).
    assert bpe.encode("cal") == [ids[W + "cal"]]
    # "▁lob": "ob" (-6), then "l" + "ob" = "lob" (-7); "▁" + "lob" is no piece.
    assert bpe.encode("lob") == [ids[W], ids["lob"]]
    # Equal scores: the leftmost pair merges first.
    assert TokenTable(["<blk>", "<unk>", W, "a", "aa"], [0, 0, -5, -5, -1]).encode("aaa") == [2, 4, 3]
    # Words split at spaces only; runs of spaces collapse; leading and trailing spaces vanish.
    assert bpe.encode("  cal   cal ") == [ids[W + "cal"]] * 2
    assert bpe.encode("") == [] and bpe.encode("   ") == []


def test_encode_maps_runs_of_unknown_characters_to_one_unk(bpe):
    ids = {p: i for i, p in enumerate(BPE_PIECES)}
    assert bpe.encode("cal zz cal") == [ids[W + "cal"], ids[W], 1, ids[W + "cal"]]
    assert bpe.encode("czzb") == [ids[W + "c"], 1, ids["b"]]
    assert bpe.encode("c\tb") == [ids[W + "c"], 1, ids["b"]]  # a tab is a character, not a word break
    no_unk = TokenTable(["<blk>", W, "a"], [0.0, -1.0, -2.0])
    assert no_unk.encode("a a") == [1, 2, 1, 2]
    with pytest.raises(ValueError, match=r"^text: 'z' is not in the token table, which has no '<unk>' piece"):
        no_unk.encode("az")


def test_blank_and_unk_never_come_out_of_merges():
    table = TokenTable(["<blk>", "<unk>", "<", "b", "l", "k", ">", "<b", "<bl", "<blk", "u", "n"],
                       [0, 0, -9, -9, -9, -9, -9, -1, -2, -3, -9, -9])
    assert table.encode("<blk>") == [1, 9, 6]  # "▁" unknown, then "<blk" and ">": never the blank, id 0
    assert table.unk_id == 1 and table.pieces[table.unk_id] == UNK


def test_encode_rejects_bad_input_and_tables_without_scores(bpe):
    with pytest.raises(ValueError, match="^text: expected a string"):
        bpe.encode(b"call")
    with pytest.raises(ValueError, match="^text: this token table has no piece scores"):
        TokenTable(BPE_PIECES).encode("call")


@pytest.mark.parametrize("scores, message", [
    ([0.0] * 3, r"^scores: expected one per piece \(15\), got 3"),
    ([0.0] * 14 + [float("nan")], r"^scores\[14\]: expected a finite number, got nan"),
    ([0.0] * 14 + [float("inf")], r"^scores\[14\]: expected a finite number"),
    ([0.0] * 14 + ["1"], r"^scores\[14\]: expected a finite number, got 1"),
    ([0.0] * 14 + [True], r"^scores\[14\]: expected a finite number, got True"),
    ([0.0] * 14 + [10 ** 400], r"^scores\[14\]: expected a finite number, got 1000"),
    ("0" * 15, r"^scores: expected a sequence of numbers"),
])
def test_bad_scores_raise(scores, message):
    with pytest.raises(ValueError, match=message):
        TokenTable(BPE_PIECES, scores)


def test_scores_round_trip_through_json_and_old_json_still_loads(bpe):
    again = TokenTable.from_json(bpe.to_json())
    assert again.scores == tuple(BPE_SCORES) and again.encode("cal call") == bpe.encode("cal call")
    assert json.loads(bpe.to_json())["scores"] == BPE_SCORES
    old = json.dumps({"format": "edgeasr.tokens", "version": 1, "pieces": BPE_PIECES})
    legacy = TokenTable.from_json(old)
    assert legacy == bpe and legacy.scores is None  # equal: the same pieces; it decodes but cannot encode
    assert legacy.decode(bpe.encode("cal")) == "cal"
    with pytest.raises(ValueError, match="no piece scores"):
        legacy.encode("cal")
    with pytest.raises(ValueError, match="'scores' must be a list"):
        TokenTable.from_json(json.dumps({"format": "edgeasr.tokens", "version": 1, "pieces": BPE_PIECES,
                                         "scores": "x"}))


def test_encoding_needs_no_sentencepiece():
    import subprocess
    import sys

    code = ("import sys, edgeasr, edgeasr.tokens as t; "
            "print(t.TokenTable(['<blk>', '<unk>', '\u2581a'], [0, 0, -1]).encode('a a')); "
            "print(sorted(m for m in ('sentencepiece', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[2, 2]", "[]"]


# --- equality with sentencepiece on a trained model ---------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_bpe(tmp_path_factory):
    # Training-side packages (the train extra): the reference this encoder must match.
    import sentencepiece as spm

    from edgeasr.train.text import generate_requests
    from edgeasr.train.tokens import train_bpe

    texts = [r.text for r in generate_requests("train", 2000)]
    model_path, table = train_bpe(texts, vocab_size=256, model_prefix=tmp_path_factory.mktemp("bpe") / "bpe")
    return spm.SentencePieceProcessor(model_file=str(model_path)), table


def test_trained_table_records_the_scores(trained_bpe):
    sp, table = trained_bpe
    assert table.scores == tuple(sp.get_score(i) for i in range(len(table)))
    assert table.unk_id == 1


def test_encode_equals_sentencepiece_on_domain_text_and_names(trained_bpe):
    from faker import Faker

    from edgeasr.train.text import generate_requests

    sp, table = trained_bpe
    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "pl_PL", "it_IT", "pt_BR"])
    fake.seed_instance(7)
    rng = np.random.default_rng(7)
    texts = [r.text for r in generate_requests("test", 2000)] + [r.text for r in generate_requests("dev", 500)]
    names = [fake.name() for _ in range(1500)]
    texts += names + [n.lower() for n in names]  # capitals and accents are outside the token set: <unk> runs
    # Spacing sentencepiece normalizes away, and whitespace it keeps as characters.
    for n in names[:500]:
        spaced = n.lower().replace(" ", " " * int(rng.integers(1, 4)))
        texts.append(" " * int(rng.integers(0, 3)) + spaced + " " * int(rng.integers(0, 3)))
    texts += ["call\tmom", "x\u3000y", "\u2581call", "call \u2581 mom", "éé", "", "   ", "call zoé now"]
    assert len(texts) >= 5000
    mismatches = [(t, table.encode(t), sp.encode(t)) for t in texts if table.encode(t) != sp.encode(t)]
    assert not mismatches, mismatches[:5]
    assert sum(1 in table.encode(n) for n in names) > 100  # the names did exercise unknown characters


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz' é\t", max_size=40))
def test_encode_equals_sentencepiece_on_random_text(trained_bpe, text):
    sp, table = trained_bpe
    assert table.encode(text) == sp.encode(text)
