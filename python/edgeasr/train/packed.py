"""A corpus split's features and transcripts in a few compressed files: training where the corpus cannot be built.

A machine lent for a few minutes (a GPU box) has none of the TTS voices and takes a few tens of MB per transfer,
while a split's float32 features take about 1.2 GB per 10 hours. Training reads only the features, the tokens and
the speech onset, so a pack holds just those: each utterance's log-mel frames rounded to a multiple of ``step``
(the error is at most step / 2: 0.25 at the default 0.5, on features with a standard deviation of about 3, below
what SpecAugment and the corpus's own noise change), stored as int8 differences from the previous frame, the whole
part compressed with LZMA (about 22 kbit/s of audio at step 0.5). The token table travels with every part, so the
other side needs no sentencepiece model.

    python -m edgeasr.train.packed --corpus v1 --split train --bpe RUN/bpe.model --parts 3 --out .gpu
    (writes .gpu/v1-train-0.pack ... -2.pack)

``load_packs`` turns the parts back into ``batching.Utterance`` objects, decoded into memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import lzma
import struct
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgeasr.tokens import TokenTable
from edgeasr.train.batching import Utterance
from edgeasr.train.config import TrainConfig

__all__ = ["pack_utterances", "load_pack", "load_packs", "pack_path", "split_packs", "load_training_data",
           "PackError"]

MAGIC = b"EDGEASR-PACK\x00\x01"
_HEADER_LEN = struct.Struct("<Q")
_MAX_HEADER = 1 << 28


class PackError(ValueError):
    """A pack file that is truncated, corrupt or not a pack."""


def _quantize(feats: np.ndarray, step: float, uid: str) -> bytes:
    q = np.round(np.asarray(feats, dtype=np.float64) / step).astype(np.int64)
    deltas = np.diff(q, axis=0, prepend=np.zeros((1, q.shape[1]), dtype=np.int64))
    if deltas.size and (deltas.min() < -128 or deltas.max() > 127):
        raise ValueError(f"{uid}: a frame-to-frame change of {int(np.abs(deltas).max())} steps does not fit int8; "
                         f"use a larger step than {step}")
    return deltas.astype(np.int8).tobytes()


def pack_utterances(utts: Sequence[Utterance], table: TokenTable, out: Path, step: float = 0.5) -> Path:
    """Writes ``utts`` (features, tokens, text, voice, lead) to one pack file ``out``."""
    if not step > 0:
        raise ValueError(f"step: expected > 0, got {step!r}")
    entries, payload = [], []
    num_bins = None
    for u in utts:
        feats = np.asarray(u.load_features())
        if feats.ndim != 2 or feats.shape[0] != u.num_frames:
            raise ValueError(f"{u.uid}: features of shape {feats.shape}, expected [{u.num_frames}, bins]")
        if num_bins is None:
            num_bins = feats.shape[1]
        elif feats.shape[1] != num_bins:
            raise ValueError(f"{u.uid}: {feats.shape[1]} bins, the others have {num_bins}")
        payload.append(_quantize(feats, step, u.uid))
        entries.append({"uid": u.uid, "voice": u.voice, "text": u.text, "tokens": list(u.tokens),
                        "num_frames": u.num_frames, "lead_frames": u.lead_frames})
    header = json.dumps({"step": step, "num_bins": num_bins or 0, "tokens": table.to_json(),
                         "utterances": entries}).encode("utf-8")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(MAGIC + lzma.compress(_HEADER_LEN.pack(len(header)) + header + b"".join(payload), preset=9))
    tmp.replace(out)
    return out


def load_pack(path: Path) -> tuple[list[Utterance], TokenTable]:
    """The utterances of one pack (features decoded into memory) and its token table; PackError on a bad file."""
    raw = Path(path).read_bytes()
    if not raw.startswith(MAGIC):
        raise PackError(f"{path}: not an edgeasr pack")
    try:
        data = lzma.decompress(raw[len(MAGIC):])
    except lzma.LZMAError as e:
        raise PackError(f"{path}: corrupt or truncated ({e})") from None
    if len(data) < _HEADER_LEN.size:
        raise PackError(f"{path}: truncated header")
    (n,) = _HEADER_LEN.unpack_from(data)
    if n > min(_MAX_HEADER, len(data) - _HEADER_LEN.size):
        raise PackError(f"{path}: header length {n} exceeds the file")
    try:
        header = json.loads(data[_HEADER_LEN.size:_HEADER_LEN.size + n])
        step, bins = float(header["step"]), int(header["num_bins"])
        table = TokenTable.from_json(header["tokens"])
        # Utterances without their features yet: every field read and typed here, where a bad one is a PackError.
        utts = [Utterance(uid=str(e["uid"]), voice=str(e["voice"]), text=str(e["text"]),
                          num_frames=int(e["num_frames"]), tokens=[int(x) for x in e["tokens"]],
                          load_features=None, lead_frames=int(e["lead_frames"])) for e in header["utterances"]]
    except (ValueError, KeyError, TypeError) as e:
        raise PackError(f"{path}: malformed header ({e})") from None
    payload = np.frombuffer(data, dtype=np.int8, offset=_HEADER_LEN.size + n)
    frames = sum(u.num_frames for u in utts)
    if not step > 0 or bins < 1 or any(u.num_frames < 0 for u in utts) or payload.size != frames * bins:
        raise PackError(f"{path}: the payload holds {payload.size} values, the header promises "
                        f"{frames} frames of {bins} bins")
    offset = 0
    for u in utts:
        if any(not 0 < x < len(table) for x in u.tokens):
            raise PackError(f"{path}: {u.uid}: token ids outside the table")
        deltas = payload[offset: offset + u.num_frames * bins].reshape(u.num_frames, bins).astype(np.int32)
        offset += u.num_frames * bins
        feats = (np.cumsum(deltas, axis=0) * step).astype(np.float32)
        u.load_features = lambda f=feats: f
    return utts, table


def load_packs(paths: Sequence[Path], table: Optional[TokenTable] = None) -> tuple[list[Utterance], TokenTable]:
    """Several parts of one split, in order; their token tables must agree with each other (and with ``table``)."""
    if not paths:
        raise ValueError("load_packs: no pack files given")
    out: list[Utterance] = []
    for p in paths:
        utts, t = load_pack(p)
        if table is not None and t.pieces != table.pieces:
            raise PackError(f"{p}: its token table differs from the other packs'")
        table = t
        out += utts
    return out, table


_PACK_NAME = "{corpus}-{split}-{part}.pack"


def pack_path(folder: Path, corpus: str, split: str, part: int) -> Path:
    """Where ``main`` writes part ``part`` of a split, and where ``load_training_data`` looks."""
    return Path(folder) / _PACK_NAME.format(corpus=corpus, split=split, part=part)


def split_packs(folder: Path, corpus: str, split: str) -> list[Path]:
    """A split's pack files in ``folder``, in part order; FileNotFoundError when there is none."""
    found = sorted(Path(folder).glob(_PACK_NAME.format(corpus=corpus, split=split, part="*")),
                   key=lambda q: int(q.stem.rsplit("-", 1)[1]))
    if not found:
        raise FileNotFoundError(f"{folder}: no {corpus}-{split}-<k>.pack files")
    return found


def load_training_data(cfg: TrainConfig, folder: Path) -> tuple[list[Utterance], list[Utterance], TokenTable]:
    """``edgeasr.train.data.load_training_data`` from packs: the train split of data.corpus and of each
    data.extra_train (uids prefixed as there), and data.corpus's dev split; one token table for all."""
    d = cfg.data
    train, table = load_packs(split_packs(folder, d.corpus, d.train_split))
    for extra in d.extra_train:
        more, _ = load_packs(split_packs(folder, extra, d.train_split), table)
        train += [dataclasses.replace(u, uid=f"{extra}/{u.uid}") for u in more]
    dev, _ = load_packs(split_packs(folder, d.corpus, d.dev_split), table)
    if len(table) != cfg.model.vocab_size:
        raise ValueError(f"{folder}: the packs have {len(table)} tokens, the model expects {cfg.model.vocab_size}")
    return train, dev, table


def main(argv: Optional[Sequence[str]] = None) -> int:
    from edgeasr.train.data import utterances
    from edgeasr.train.tokens import Tokenizer

    p = argparse.ArgumentParser(description="Pack a built corpus split's features and tokens for another machine.")
    p.add_argument("--corpus", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--bpe", required=True, type=Path, help="the sentencepiece model whose tokens the run trains on")
    p.add_argument("--parts", type=int, default=1, help="files of about equal audio length")
    p.add_argument("--step", type=float, default=0.5, help="feature rounding step (log-mel units)")
    p.add_argument("--out", required=True, type=Path)
    a = p.parse_args(argv)
    tok = Tokenizer(a.bpe)
    utts = utterances(a.corpus, a.split, tok)
    total = sum(u.num_frames for u in utts)
    bounds, acc, part = [0], 0, 1
    for i, u in enumerate(utts):
        acc += u.num_frames
        if part < a.parts and acc >= total * part / a.parts:
            bounds.append(i + 1)
            part += 1
    bounds.append(len(utts))
    for k in range(len(bounds) - 1):
        out = pack_utterances(utts[bounds[k]:bounds[k + 1]], tok.table, pack_path(a.out, a.corpus, a.split, k),
                              a.step)
        print(f"{out}: {bounds[k + 1] - bounds[k]} utterances, {out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
