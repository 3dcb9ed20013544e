"""Training the cloud LM on the domain text generator's train split (torch; server side).

    python -m edgeasr.cloud.train_lm --config configs/cloud_lm.toml

The text is ``edgeasr.train.text.generate_requests("train", n, seed)`` for each configured seed: only train-split
contacts, so dev and test names stay unseen. The run directory (``[run] out_dir``, outside git) holds
``checkpoint-latest.pt`` (model, optimizer and progress, written atomically), ``metrics.jsonl``, ``config.json`` and,
when training ends, ``lm.pt`` (the LM file :func:`edgeasr.cloud.lm.load_lm` reads) with its dev perplexity.
Starting again with the same directory resumes at the same batch; ``max_minutes`` stops a process early (with a
checkpoint) so a long run can go in slices.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from edgeasr.cloud.lm import LMConfig, LSTMLM, NeuralLM, batch_tensors
from edgeasr.tokens import TokenTable

__all__ = ["DataConfig", "OptimConfig", "RunConfig", "LMTrainConfig", "load_config", "training_text", "train_lm",
           "main"]


@dataclass
class DataConfig:
    tokens_from: str = "default"    # model file whose token table the LM uses ("default": the bundled model)
    seeds: list = field(default_factory=lambda: [0])   # train-split generator seeds
    sentences_per_seed: int = 20000
    dev_sentences: int = 2000       # dev-split requests (seed 0) for perplexity

    def validate(self) -> None:
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ValueError(f"data.seeds: expected a non-empty list of ints >= 0, got {self.seeds!r}")
        if self.sentences_per_seed < 1 or self.dev_sentences < 1:
            raise ValueError(f"data: sentences_per_seed and dev_sentences must be >= 1: {self}")


@dataclass
class OptimConfig:
    lr: float = 2e-3
    weight_decay: float = 1e-5
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05      # cosine decay from lr to lr * min_lr_ratio over all steps
    epochs: int = 1
    batch_tokens: int = 3000        # tokens (with </s>) per batch
    grad_clip: float = 1.0

    def validate(self) -> None:
        if not (self.lr > 0 and self.epochs > 0 and self.batch_tokens > 0 and self.grad_clip > 0
                and self.warmup_steps >= 0 and 0 <= self.min_lr_ratio <= 1):
            raise ValueError(f"optim: lr, epochs, batch_tokens, grad_clip > 0, warmup_steps >= 0, "
                             f"min_lr_ratio in [0, 1] required: {self}")


@dataclass
class RunConfig:
    out_dir: str = "~/.cache/edgeasr/cloud_lm"
    seed: int = 0
    threads: int = 1
    checkpoint_every: int = 200
    log_every: int = 50
    max_minutes: float = 0.0        # stop this process (with a checkpoint) after this long; 0: no limit
    max_steps: int = 0              # stop after this many steps in all; 0: all epochs

    def validate(self) -> None:
        if self.checkpoint_every < 1 or self.log_every < 1 or self.max_steps < 0 or self.max_minutes < 0 \
                or self.threads < 1:
            raise ValueError(f"run: checkpoint_every, log_every, threads >= 1, max_steps, max_minutes >= 0: {self}")

    @property
    def path(self) -> Path:
        return Path(self.out_dir).expanduser()


@dataclass
class LMTrainConfig:
    model: LMConfig = field(default_factory=LMConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> None:
        for part in (self.model, self.data, self.optim, self.run):
            part.validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fill(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise ValueError(f"[{where}]: expected a table")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"[{where}]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)


def config_from_dict(raw: dict) -> LMTrainConfig:
    unknown = set(raw) - {"model", "data", "optim", "run"}
    if unknown:
        raise ValueError(f"unknown tables {sorted(unknown)}; known: data, model, optim, run")
    cfg = LMTrainConfig(model=_fill(LMConfig, raw.get("model", {}), "model"),
                        data=_fill(DataConfig, raw.get("data", {}), "data"),
                        optim=_fill(OptimConfig, raw.get("optim", {}), "optim"),
                        run=_fill(RunConfig, raw.get("run", {}), "run"))
    cfg.validate()
    return cfg


def load_config(path: str | Path) -> LMTrainConfig:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    try:
        return config_from_dict(raw)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def token_table(tokens_from: str) -> TokenTable:
    from edgeasr.model_file import load_model
    from edgeasr.recognizer import default_model_path

    return load_model(default_model_path() if tokens_from == "default" else Path(tokens_from).expanduser()).tokens


def training_text(cfg: DataConfig) -> tuple[list[str], list[str]]:
    """(train sentences, dev sentences): train-split requests for each seed, dev-split requests of seed 0."""
    from edgeasr.train.text import generate_requests

    train = [r.text for s in cfg.seeds for r in generate_requests("train", cfg.sentences_per_seed, seed=s)]
    dev = [r.text for r in generate_requests("dev", cfg.dev_sentences, seed=0)]
    return train, dev


def make_batches(lengths: Sequence[int], batch_tokens: int, seed: int, epoch: int) -> list[list[int]]:
    """Sentence indices grouped by similar length (little padding), ~batch_tokens each, in a seeded order."""
    rng = random.Random(f"edgeasr.cloud_lm/{seed}/{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)  # ties in length broken at random, differently each epoch
    order.sort(key=lambda i: lengths[i])
    batches, current, longest = [], [], 0
    for i in order:
        longest_if = max(longest, lengths[i] + 1)
        if current and longest_if * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest_if = [], lengths[i] + 1
        current.append(i)
        longest = longest_if
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def learning_rate(cfg: OptimConfig, step: int, total: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _save(path: Path, model: LSTMLM, optimizer, progress: dict, cfg: LMTrainConfig, table: TokenTable) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "progress": progress,
                "config": cfg.to_dict(), "tokens": table.to_json(), "torch_rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def train_lm(cfg: LMTrainConfig, train_text: Sequence[str], dev_text: Sequence[str], table: TokenTable,
             log: Callable[[str], None] = print) -> tuple[NeuralLM, dict]:
    """Trains (or resumes) the run in ``cfg.run.out_dir``. Returns the LM and the progress; when all steps are
    done it also writes ``lm.pt`` with the dev perplexity in its info."""
    torch.set_num_threads(cfg.run.threads)
    out = cfg.run.path
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.run.seed)
    model = LSTMLM(len(table), cfg.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scorer = NeuralLM(model, table)  # its encoder cache serves the training text too
    encoded = [scorer.encode(t) for t in train_text]
    lengths = [len(e) for e in encoded]
    per_epoch = len(make_batches(lengths, cfg.optim.batch_tokens, cfg.run.seed, 0))
    total = per_epoch * cfg.optim.epochs
    if cfg.run.max_steps:
        total = min(total, cfg.run.max_steps)
    latest = out / "checkpoint-latest.pt"
    progress = {"epoch": 0, "batch": 0, "step": 0, "train_seconds": 0.0}
    if latest.exists():
        state = torch.load(latest, map_location="cpu", weights_only=False)
        if TokenTable.from_json(state["tokens"]) != table:
            raise ValueError(f"{latest}: trained with another token table; use another out_dir")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        progress = state["progress"]
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    log(f"LM: {model.num_parameters():,} parameters; {len(train_text):,} sentences, {sum(lengths):,} tokens; "
        f"{per_epoch} batches per epoch, {total} steps; " +
        (f"resuming at step {progress['step']}" if progress["step"] else "starting"))
    metrics = open(out / "metrics.jsonl", "a")
    t_start = time.perf_counter()
    window = {"loss": 0.0, "tokens": 0, "batches": 0, "t0": time.perf_counter()}
    stopped_early = False
    while progress["epoch"] < cfg.optim.epochs and progress["step"] < total:
        batches = make_batches(lengths, cfg.optim.batch_tokens, cfg.run.seed, progress["epoch"])
        model.train()
        for b in range(progress["batch"], len(batches)):
            inputs, targets, mask = batch_tensors([encoded[i] for i in batches[b]])
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg.optim, progress["step"], total)
            logits = model(inputs)
            loss = torch.nn.functional.cross_entropy(logits[mask], targets[mask])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            progress["step"] += 1
            progress["batch"] = b + 1
            window["loss"] += float(loss.detach()) * int(mask.sum())
            window["tokens"] += int(mask.sum())
            window["batches"] += 1
            if progress["step"] % cfg.run.log_every == 0:
                elapsed = time.perf_counter() - window["t0"]
                record = {"step": progress["step"], "epoch": progress["epoch"],
                          "loss": window["loss"] / window["tokens"], "lr": optimizer.param_groups[0]["lr"],
                          "tokens_per_s": window["tokens"] / elapsed, "time": time.time()}
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                log(f"step {record['step']}/{total} loss {record['loss']:.4f} lr {record['lr']:.2e} "
                    f"{record['tokens_per_s']:.0f} tokens/s")
                window.update(loss=0.0, tokens=0, batches=0, t0=time.perf_counter())
            out_of_time = cfg.run.max_minutes and time.perf_counter() - t_start > cfg.run.max_minutes * 60
            if progress["step"] % cfg.run.checkpoint_every == 0 or progress["step"] >= total or out_of_time:
                progress["train_seconds"] += time.perf_counter() - t_start
                t_start = time.perf_counter()
                _save(latest, model, optimizer, progress, cfg, table)
            if progress["step"] >= total:
                break
            if out_of_time:
                stopped_early = True
                break
        if stopped_early or progress["step"] >= total:
            break
        progress["epoch"] += 1
        progress["batch"] = 0
    progress["train_seconds"] += time.perf_counter() - t_start
    _save(latest, model, optimizer, progress, cfg, table)
    model.eval()
    lm = NeuralLM(model, table, {"parameters": model.num_parameters(), "steps": progress["step"],
                                 "train_seconds": round(progress["train_seconds"], 1),
                                 "train_sentences": len(train_text), "train_tokens": sum(lengths)})
    if stopped_early:
        log(f"stopped after {cfg.run.max_minutes} minutes at step {progress['step']}/{total}; run again to resume")
        metrics.close()
        return lm, progress
    dev = lm.perplexity(dev_text)
    lm.info["dev"] = dev
    lm.save(out / "lm.pt")
    record = {"step": progress["step"], "dev_token_perplexity": dev["token_perplexity"],
              "dev_word_perplexity": dev["word_perplexity"], "train_seconds": progress["train_seconds"],
              "time": time.time()}
    metrics.write(json.dumps(record) + "\n")
    metrics.close()
    log(f"done: {progress['step']} steps in {progress['train_seconds'] / 60:.1f} min; dev perplexity "
        f"{dev['token_perplexity']:.3f} per token, {dev['word_perplexity']:.3f} per word "
        f"({dev['sentences']} sentences); wrote {out / 'lm.pt'}")
    return lm, progress


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Train the cloud rescoring LM on the domain text (train split).")
    p.add_argument("--config", required=True, type=Path)
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
        print(f"train_lm: error: {e}", file=sys.stderr)
        return 1
    table = token_table(cfg.data.tokens_from)
    train_text, dev_text = training_text(cfg.data)
    train_lm(cfg, train_text, dev_text, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
