"""Training configuration: one TOML file with [model], [data], [optim], [specaugment] and [run] tables."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeasr.train.model import ModelConfig, student_config, teacher_config
from edgeasr.train.specaugment import SpecAugmentConfig

PRESETS = {"student": student_config, "teacher": teacher_config}


@dataclass
class DataConfig:
    corpus: str = "v1"              # corpus name under the cache (edgeasr.train.corpus)
    train_split: str = "train"
    dev_split: str = "dev"
    vocab_size: int = 256           # BPE units, blank included
    max_frames: int = 12000         # feature frames (10 ms) per batch and process: ~2 minutes of audio
    dev_utterances: int = 200       # dev utterances decoded for WER after each epoch

    def validate(self) -> None:
        if self.vocab_size < 3 or self.max_frames < 100 or self.dev_utterances < 0:
            raise ValueError(f"data: vocab_size >= 3, max_frames >= 100, dev_utterances >= 0 required: {self}")


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup_steps: int = 500         # linear warm-up, then inverse square root decay
    epochs: int = 30
    grad_clip: float = 5.0

    def validate(self) -> None:
        if not (self.lr > 0 and self.epochs > 0 and self.warmup_steps >= 0 and self.grad_clip > 0):
            raise ValueError(f"optim: lr, epochs and grad_clip must be > 0, warmup_steps >= 0: {self}")


@dataclass
class RunConfig:
    out_dir: str = "~/.cache/edgeasr/runs/student"
    seed: int = 0
    checkpoint_every: int = 200     # steps between checkpoints (and one at every epoch end)
    log_every: int = 20             # steps between lines in metrics.jsonl
    max_steps: int = 0              # stop after this many steps in all (0: run all epochs)

    def validate(self) -> None:
        if self.checkpoint_every < 1 or self.log_every < 1 or self.max_steps < 0:
            raise ValueError(f"run: checkpoint_every and log_every >= 1, max_steps >= 0 required: {self}")

    @property
    def path(self) -> Path:
        return Path(self.out_dir).expanduser()


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=student_config)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> None:
        for part in (self.data, self.optim, self.specaugment, self.run):
            part.validate()
        if self.model.vocab_size != self.data.vocab_size:
            raise ValueError(f"model.vocab_size ({self.model.vocab_size}) must equal data.vocab_size "
                             f"({self.data.vocab_size})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fill(cls, values: dict, where: str, base=None):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"[{where}]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def load_config(path: str | Path) -> TrainConfig:
    """Reads a TOML config. ``[model] preset = "student" | "teacher"`` starts from a preset; other keys override."""
    with open(path, "rb") as f:
        raw: dict[str, Any] = tomllib.load(f)
    unknown = set(raw) - {"model", "data", "optim", "specaugment", "run"}
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}")
    model_raw = dict(raw.get("model", {}))
    preset = model_raw.pop("preset", "student")
    if preset not in PRESETS:
        raise ValueError(f"[model] preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    cfg = TrainConfig(
        model=_fill(ModelConfig, model_raw, "model", base=PRESETS[preset]()),
        data=_fill(DataConfig, raw.get("data", {}), "data"),
        optim=_fill(OptimConfig, raw.get("optim", {}), "optim"),
        specaugment=_fill(SpecAugmentConfig, raw.get("specaugment", {}), "specaugment"),
        run=_fill(RunConfig, raw.get("run", {}), "run"),
    )
    cfg.validate()
    return cfg
