"""Sentencepiece BPE: training the token set on domain text, and encoding transcripts for training.

The token table itself (ids to pieces, decoding) is ``edgeasr.tokens.TokenTable``, which inference uses without
sentencepiece. Models trained here put the RNN-T blank "<blk>" at id 0 (sentencepiece's pad slot) and "<unk>" at
id 1, with no bos/eos: a transducer needs neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Union

import sentencepiece as spm

from edgeasr.tokens import BLANK, UNK, TokenTable

__all__ = ["train_bpe", "Tokenizer", "bpe_model_from_table"]


def train_bpe(texts: Iterable[str], vocab_size: int = 256, *,
              model_prefix: Union[str, os.PathLike]) -> tuple[Path, TokenTable]:
    """Train a BPE model on ``texts``; returns the path of ``{model_prefix}.model`` and its token table.

    Deterministic for the same texts in the same order (one thread, every sentence used, no shuffling). Text is taken
    as is (no Unicode normalization): the domain text is already lowercase ASCII words."""
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 3:
        raise ValueError(f"vocab_size: expected an int >= 3 (blank, unk and one piece), got {vocab_size!r}")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("texts: no non-empty text to train on")
    if any("\n" in t for t in texts):
        raise ValueError("texts: a text contains a newline; pass one sentence per item")
    prefix = Path(model_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_prefix=str(prefix),
            model_type="bpe",
            vocab_size=vocab_size,
            character_coverage=1.0,
            pad_id=0,
            pad_piece=BLANK,
            unk_id=1,
            unk_piece=UNK,
            bos_id=-1,
            eos_id=-1,
            normalization_rule_name="identity",
            num_threads=1,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            minloglevel=2,
        )
    except RuntimeError as e:
        # e.g. "Vocabulary size is too high": the texts have fewer distinct pieces than asked for.
        raise ValueError(f"vocab_size: sentencepiece could not train {vocab_size} pieces on these texts: {e}") from e
    model_path = prefix.with_name(prefix.name + ".model")
    return model_path, Tokenizer(model_path).table


def bpe_model_from_table(table: TokenTable, path: Union[str, os.PathLike]) -> Path:
    """Write a sentencepiece BPE model with ``table``'s pieces and scores and :func:`train_bpe`'s settings: the
    tokenizer training needs, rebuilt from a model file's token table when the run's bpe.model is gone. A BPE model is
    its pieces and their merge order (the scores) under fixed settings, so it encodes as ``table.encode`` does."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    if table.scores is None:
        raise ValueError("table: has no piece scores (the merge order a BPE model needs)")
    if len(table) < 3 or table.pieces[0] != BLANK or table.pieces[1] != UNK:
        raise ValueError(f"table: expected {BLANK!r} and {UNK!r} at ids 0 and 1 and at least one piece")
    m = pb.ModelProto()
    t = m.trainer_spec
    t.model_type = pb.TrainerSpec.BPE
    t.vocab_size = len(table)
    t.character_coverage = 1.0
    t.pad_id, t.pad_piece, t.unk_id, t.unk_piece, t.bos_id, t.eos_id = 0, BLANK, 1, UNK, -1, -1
    n = m.normalizer_spec
    n.name = "identity"
    n.add_dummy_prefix = n.remove_extra_whitespaces = n.escape_whitespaces = True
    kinds = {0: pb.ModelProto.SentencePiece.CONTROL, 1: pb.ModelProto.SentencePiece.UNKNOWN}
    for i, (piece, score) in enumerate(zip(table.pieces, table.scores)):
        sp = m.pieces.add()
        sp.piece, sp.score, sp.type = piece, float(score), kinds.get(i, pb.ModelProto.SentencePiece.NORMAL)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(m.SerializeToString())
    return out


class Tokenizer:
    """A trained sentencepiece BPE model: text to token ids, and back through its TokenTable."""

    def __init__(self, model_path: Union[str, os.PathLike]):
        path = Path(model_path)
        if not path.is_file():
            raise ValueError(f"model_path: {str(path)!r} is not a file")
        self.model_path = path
        self._sp = spm.SentencePieceProcessor(model_file=str(path))
        n = self._sp.get_piece_size()
        # The scores let TokenTable.encode reproduce this model's encoding at inference, without sentencepiece.
        self.table = TokenTable([self._sp.id_to_piece(i) for i in range(n)], [self._sp.get_score(i) for i in range(n)])
        self._unk_id = self._sp.unk_id()

    def __len__(self) -> int:
        return len(self.table)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; ValueError if it has characters the model never saw (they would become <unk>)."""
        if not isinstance(text, str):
            raise ValueError(f"text: expected a string, got {type(text).__name__}")
        ids = self._sp.encode(text, out_type=int)
        if self._unk_id in ids:
            unknown = sorted({c for c in text if not c.isspace() and self._sp.piece_to_id(c) == self._unk_id})
            raise ValueError(f"text: {text!r} has characters outside the token set: {unknown}")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.table.decode(ids)
