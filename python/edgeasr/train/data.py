"""From a built corpus to training utterances: BPE tokens trained on the training text, features from the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from edgeasr.tokens import TokenTable
from edgeasr.train.batching import Utterance
from edgeasr.train.config import TrainConfig
from edgeasr.train.corpus import load_cuts, load_features
from edgeasr.train.tokens import Tokenizer, train_bpe


def corpus_texts(name: str, split: str) -> list[tuple[str, str, str]]:
    """(uid, voice, text) for every cut of a built corpus split."""
    return [(uid, voice, text) for uid, voice, text, _ in _corpus_entries(name, split)]


def _corpus_entries(name: str, split: str) -> list[tuple[str, str, str, float]]:
    """(uid, voice, text, speech start in seconds: 0 where the supervision does not say) for every cut."""
    out = []
    for cut in load_cuts(name, split):
        sup = cut.supervisions[0]
        start = float((sup.custom or {}).get("speech_start", 0.0))
        out.append((cut.id, sup.speaker, sup.text, start))
    return out


def tokenizer_for(cfg: TrainConfig) -> Tokenizer:
    """The run's BPE model: trained once on the training split's text, then reused (and checkpointed with it)."""
    model = cfg.run.path / "bpe.model"
    if not model.exists():
        cfg.run.path.mkdir(parents=True, exist_ok=True)
        texts = [t for _, _, t in corpus_texts(cfg.data.corpus, cfg.data.train_split)]
        train_bpe(texts, cfg.data.vocab_size, model_prefix=cfg.run.path / "bpe")
    return Tokenizer(model)


def utterances(name: str, split: str, tokenizer: Tokenizer | None, uid_prefix: str = "") -> list[Utterance]:
    """A split's utterances with their cached features; without a tokenizer (evaluation) tokens stay empty.
    ``uid_prefix`` keeps uids unique when several corpora (which all count from train-000000) are combined."""
    feats = load_features(name, split)
    out = []
    for uid, voice, text, speech_start in _corpus_entries(name, split):
        # Frame k starts k frame shifts in: frames up to the one starting at the speech start may be cropped.
        lead = max(0, int(speech_start * 1000.0 / feats.config.frame_shift_ms))
        out.append(Utterance(uid=uid_prefix + uid, voice=voice, text=text, num_frames=feats.num_frames(uid),
                             tokens=tokenizer.encode(text) if tokenizer else [],
                             load_features=lambda u=uid: feats[u], lead_frames=lead))
    return out


def load_training_data(cfg: TrainConfig) -> tuple[Sequence[Utterance], Sequence[Utterance], TokenTable]:
    tok = tokenizer_for(cfg)
    if len(tok.table) != cfg.model.vocab_size:
        raise ValueError(f"{tok.model_path}: {len(tok.table)} tokens, but the model expects {cfg.model.vocab_size}")
    train = utterances(cfg.data.corpus, cfg.data.train_split, tok)
    for extra in cfg.data.extra_train:  # the tokens stay those trained on data.corpus's text
        train += utterances(extra, cfg.data.train_split, tok, uid_prefix=f"{extra}/")
    dev = utterances(cfg.data.corpus, cfg.data.dev_split, tok)
    return train, dev, tok.table
