"""Training configuration: one TOML file with [model], [data], [optim], [specaugment] and [run] tables, and an
optional [compress] table (compression-aware fine-tuning: distillation, quantization-aware training, pruning)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgeasr.train.model import ModelConfig, student_config, teacher_config
from edgeasr.train.specaugment import SpecAugmentConfig

PRESETS = {"student": student_config, "teacher": teacher_config}


@dataclass
class DataConfig:
    corpus: str = "v1"              # corpus name under the cache (edgeasr.train.corpus); its dev split is the dev set
    extra_train: tuple[str, ...] = ()  # more corpora whose train splits are added to the training data (e.g. "v2")
    train_split: str = "train"
    dev_split: str = "dev"
    vocab_size: int = 256           # BPE units, blank included
    max_frames: int = 12000         # feature frames (10 ms) per batch and process: ~2 minutes of audio
    dev_utterances: int = 200       # dev utterances decoded for WER after each epoch
    onset_crop: float = 0.0         # probability that a training utterance starts part-way into its leading
                                    # silence, down to the speech onset (edgeasr.train.onset_crop)
    lead_extend: float = 0.0        # probability that a training utterance gets more of its own background
    lead_extend_max_s: float = 2.0  # before it, up to this many seconds (edgeasr.train.lead_extend)

    def validate(self) -> None:
        if self.vocab_size < 3 or self.max_frames < 100 or self.dev_utterances < 0:
            raise ValueError(f"data: vocab_size >= 3, max_frames >= 100, dev_utterances >= 0 required: {self}")
        if not (isinstance(self.onset_crop, (int, float)) and 0.0 <= self.onset_crop <= 1.0):
            raise ValueError(f"data.onset_crop: expected a probability in [0, 1], got {self.onset_crop!r}")
        if not (isinstance(self.lead_extend, (int, float)) and 0.0 <= self.lead_extend <= 1.0):
            raise ValueError(f"data.lead_extend: expected a probability in [0, 1], got {self.lead_extend!r}")
        if not (isinstance(self.lead_extend_max_s, (int, float)) and 0.0 <= self.lead_extend_max_s <= 30.0):
            raise ValueError(f"data.lead_extend_max_s: expected seconds in [0, 30], got {self.lead_extend_max_s!r}")
        if not all(isinstance(c, str) and c for c in self.extra_train) or self.corpus in self.extra_train:
            raise ValueError(f"data.extra_train: expected corpus names other than data.corpus, got "
                             f"{self.extra_train!r}")


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
    keep_every: int = 0             # also keep checkpoint-step<N>.pt every this many steps, to pick one later (0: no)
    device: str = "cpu"             # "cpu", "cuda" or "cuda:<n>": where the model and the batches live
    max_wall_s: float = 0.0         # stop (with a checkpoint) once this much wall time has passed in this process
                                    # (0: no limit); the log names the step, and max_steps replays the run

    def validate(self) -> None:
        if self.checkpoint_every < 1 or self.log_every < 1 or self.max_steps < 0 or self.keep_every < 0:
            raise ValueError(f"run: checkpoint_every and log_every >= 1, max_steps and keep_every >= 0 required: "
                             f"{self}")
        if self.keep_every and self.keep_every % self.checkpoint_every:
            raise ValueError(f"run: keep_every must be a multiple of checkpoint_every: {self}")
        if not isinstance(self.device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"run.device: expected 'cpu', 'cuda' or 'cuda:<n>', got {self.device!r}")
        if isinstance(self.max_wall_s, bool) or not isinstance(self.max_wall_s, (int, float)) or \
                not self.max_wall_s >= 0:
            raise ValueError(f"run.max_wall_s: expected seconds >= 0, got {self.max_wall_s!r}")

    @property
    def path(self) -> Path:
        return Path(self.out_dir).expanduser()


@dataclass
class CompressConfig:
    """Compression-aware training (edgeasr.train.qat, sparsify, distill); steps count optimizer steps of this run."""

    init_from: str = ""             # checkpoint whose weights a new run starts from (a float model to fine-tune)
    teacher: str = ""               # checkpoint of the teacher for distillation ("" with distill_weight 0: none)
    distill_weight: float = 0.0     # loss = transducer loss + distill_weight * KL(teacher || student)
    distill_form: str = "collapsed"  # "collapsed" (blank, next token, rest) or "full" (whole vocabulary)
    targets: str = "reference"      # "reference" transcripts, or "teacher": the teacher's greedy hypotheses
    qat_bits: int = 0               # 0 (float), 8 or 4: fake-quantize as export stores the weights
    qat_activations: bool = True    # round the products' inputs to int8 per row, as the kernels do
    qat_reg_weight: float = 0.0     # weight of the pull towards the quantization levels (sin^2 penalty)
    qat_reg_start_step: int = 0
    qat_reg_ramp_steps: int = 0     # linear ramp of the penalty's (and the pull's) weight from qat_reg_start_step
    qat_level_pull: float = 0.0     # after each optimizer step, each kept weight loses this fraction of its
                                    # distance to its nearest level (qat.pull_to_levels_; decoupled from the loss)
    sparsity: float = 0.0           # final fraction of zeros per quantized matrix, in [0, 1)
    sparsity_start_step: int = 0
    sparsity_end_step: int = 0      # the cubic ramp ends here
    sparsity_every: int = 100       # steps between mask updates on the ramp

    def validate(self) -> None:
        from edgeasr.train.distill import DISTILL_FORMS

        if self.qat_bits not in (0, 4, 8) or isinstance(self.qat_bits, bool):
            raise ValueError(f"compress.qat_bits: expected 0, 4 or 8, got {self.qat_bits!r}")
        if self.distill_form not in DISTILL_FORMS:
            raise ValueError(f"compress.distill_form: expected one of {list(DISTILL_FORMS)}, got "
                             f"{self.distill_form!r}")
        if self.targets not in ("reference", "teacher"):
            raise ValueError(f"compress.targets: expected 'reference' or 'teacher', got {self.targets!r}")
        for name in ("distill_weight", "qat_reg_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"compress.{name}: expected a number >= 0, got {value!r}")
        if (self.distill_weight > 0 or self.targets == "teacher") and not self.teacher:
            raise ValueError("compress.teacher: distill_weight > 0 or targets = 'teacher' needs a teacher checkpoint")
        if self.qat_reg_weight > 0 and self.qat_bits == 0:
            raise ValueError("compress.qat_reg_weight: the level penalty needs qat_bits 8 or 4")
        pull = self.qat_level_pull
        if isinstance(pull, bool) or not isinstance(pull, (int, float)) or not 0.0 <= pull <= 1.0:
            raise ValueError(f"compress.qat_level_pull: expected a number in [0, 1], got {pull!r}")
        if pull > 0 and self.qat_bits == 0:
            raise ValueError("compress.qat_level_pull: the pull to the levels needs qat_bits 8 or 4")
        if isinstance(self.sparsity, bool) or not isinstance(self.sparsity, (int, float)) or \
                not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"compress.sparsity: expected a number in [0, 1), got {self.sparsity!r}")
        for name in ("qat_reg_start_step", "qat_reg_ramp_steps", "sparsity_start_step", "sparsity_end_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"compress.{name}: expected an int >= 0, got {value!r}")
        if self.sparsity_end_step < self.sparsity_start_step:
            raise ValueError(f"compress.sparsity_end_step ({self.sparsity_end_step}) must not precede "
                             f"sparsity_start_step ({self.sparsity_start_step})")
        if isinstance(self.sparsity_every, bool) or not isinstance(self.sparsity_every, int) or self.sparsity_every < 1:
            raise ValueError(f"compress.sparsity_every: expected an int >= 1, got {self.sparsity_every!r}")


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=student_config)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    run: RunConfig = field(default_factory=RunConfig)
    compress: Optional[CompressConfig] = None  # None: no [compress] table, plain float training

    def validate(self) -> None:
        for part in (self.data, self.optim, self.specaugment, self.run):
            part.validate()
        if self.compress is not None:
            self.compress.validate()
        if self.model.vocab_size != self.data.vocab_size:
            raise ValueError(f"model.vocab_size ({self.model.vocab_size}) must equal data.vocab_size "
                             f"({self.data.vocab_size})")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if self.compress is None:
            del d["compress"]  # the config of a plain run reads as it did before [compress] existed
        return d


def _fill(cls, values: dict, where: str, base=None):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"[{where}]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def _tuples(values: dict, *keys: str) -> dict:
    """TOML arrays of the named keys as tuples (the dataclasses are compared and hashed)."""
    out = dict(values)
    for k in keys:
        if k in out:
            if not isinstance(out[k], list):
                raise ValueError(f"{k}: expected an array, got {out[k]!r}")
            out[k] = tuple(out[k])
    return out


def load_config(path: str | Path) -> TrainConfig:
    """Reads a TOML config. ``[model] preset = "student" | "teacher"`` starts from a preset; other keys override.
    Paths in ``[compress]`` (init_from, teacher) may start with ``~``; they are read when training starts."""
    with open(path, "rb") as f:
        raw: dict[str, Any] = tomllib.load(f)
    unknown = set(raw) - {"model", "data", "optim", "specaugment", "run", "compress"}
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}")
    model_raw = dict(raw.get("model", {}))
    preset = model_raw.pop("preset", "student")
    if preset not in PRESETS:
        raise ValueError(f"[model] preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    cfg = TrainConfig(
        model=_fill(ModelConfig, model_raw, "model", base=PRESETS[preset]()),
        data=_fill(DataConfig, _tuples(raw.get("data", {}), "extra_train"), "data"),
        optim=_fill(OptimConfig, raw.get("optim", {}), "optim"),
        specaugment=_fill(SpecAugmentConfig, raw.get("specaugment", {}), "specaugment"),
        run=_fill(RunConfig, raw.get("run", {}), "run"),
        compress=_fill(CompressConfig, raw["compress"], "compress") if "compress" in raw else None,
    )
    cfg.validate()
    return cfg
