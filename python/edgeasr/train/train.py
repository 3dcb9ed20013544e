"""The training loop: resumable checkpoints, metrics log, SpecAugment, fixed seeds, torch.distributed (gloo).

Run one process with ``edgeasr train --config configs/student.toml``, or several with
``torchrun --nproc-per-node 2 -m edgeasr.train.train --config ...``: each process takes every world-th batch, and
gradients are averaged by DistributedDataParallel over gloo. A run directory holds ``checkpoint-latest.pt``
(written atomically), ``checkpoint-best.pt`` (lowest dev WER), ``metrics.jsonl`` and ``config.json``; starting
again with the same directory resumes where the latest checkpoint left off, at the same batch of the same epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from edgeasr.tokens import TokenTable
from edgeasr.train.batching import Utterance, collate, length_batches
from edgeasr.train.config import TrainConfig, load_config
from edgeasr.train.evaluate import transcribe, wer_by_voice
from edgeasr.train.model import Transducer
from edgeasr.train.specaugment import spec_augment

FRAME_SHIFT_S = 0.01  # the fbank frame shift (10 ms), for audio-seconds throughput


@dataclass
class Progress:
    epoch: int = 0
    batch: int = 0          # batches of this epoch already done (by this process)
    step: int = 0           # optimizer steps in all
    best_wer: float = math.inf


def setup_distributed() -> tuple[int, int]:
    """(rank, world size); initialises gloo when launched by torchrun with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def feature_statistics(utts: Sequence[Utterance], max_utterances: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and standard deviation of the features of up to ``max_utterances`` evenly spaced utterances
    (the same in every process: the list order is the corpus order)."""
    step = max(1, len(utts) // max_utterances)
    frames = torch.cat([torch.from_numpy(np.array(u.load_features(), dtype=np.float32)) for u in utts[::step]])
    if frames.shape[0] < 2:
        raise ValueError("feature_statistics: fewer than 2 frames of training features")
    return frames.mean(0), frames.std(0)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    warm = max(1, cfg.optim.warmup_steps)
    return cfg.optim.lr * min((step + 1) / warm, math.sqrt(warm / (step + 1)))


def save_checkpoint(path: Path, model: Transducer, optimizer, progress: Progress, cfg: TrainConfig,
                    table: TokenTable) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "progress": vars(progress),
                "config": cfg.to_dict(), "tokens": table.to_json(), "torch_rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves half a checkpoint


def load_checkpoint(path: Path, model: Transducer, optimizer) -> Progress:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return Progress(**state["progress"])


def train(cfg: TrainConfig, train_utts: Sequence[Utterance], dev_utts: Sequence[Utterance], table: TokenTable,
          log: Callable[[str], None] = print) -> tuple[Progress, Transducer]:
    """Trains (or resumes) the run in ``cfg.run.out_dir``; returns where it stopped and the model."""
    rank, world = setup_distributed()
    out = cfg.run.path
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.run.seed)  # identical initial weights in every process
    model = Transducer(cfg.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    latest = out / "checkpoint-latest.pt"
    if latest.exists():
        progress = load_checkpoint(latest, model, optimizer)
    else:
        progress = Progress()
        model.encoder.set_normalization(*feature_statistics(train_utts))
    if rank == 0:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        log(f"model: {model.num_parameters():,} parameters; {len(train_utts)} training utterances; "
            f"{world} process(es); " + (f"resuming at epoch {progress.epoch} batch {progress.batch}"
                                        if latest.exists() else "starting"))
    net = DistributedDataParallel(model) if world > 1 else model
    augment_rng = torch.Generator().manual_seed(cfg.run.seed * 7919 + rank + 1000 * progress.step)
    metrics = open(out / "metrics.jsonl", "a") if rank == 0 else None
    window = {"loss": 0.0, "batches": 0, "utts": 0, "frames": 0, "t0": time.perf_counter()}

    while progress.epoch < cfg.optim.epochs:
        batches = length_batches(train_utts, cfg.data.max_frames, cfg.run.seed, progress.epoch, rank, world)
        model.train()
        for b in range(progress.batch, len(batches)):
            x, lengths, y, y_lengths = collate([train_utts[i] for i in batches[b]])
            x = spec_augment(x, lengths, cfg.specaugment, augment_rng)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, progress.step)
            loss = net(x, lengths, y, y_lengths)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            progress.step += 1
            progress.batch = b + 1
            window["loss"] += float(loss.detach())
            window["batches"] += 1
            window["utts"] += len(batches[b])
            window["frames"] += int(lengths.sum())
            if progress.step % cfg.run.log_every == 0:
                _log_window(window, progress, cfg, world, metrics, log)
            if progress.step % cfg.run.checkpoint_every == 0 and rank == 0:
                save_checkpoint(latest, model, optimizer, progress, cfg, table)
            if cfg.run.max_steps and progress.step >= cfg.run.max_steps:
                break
        if cfg.run.max_steps and progress.step >= cfg.run.max_steps:
            if rank == 0:
                save_checkpoint(latest, model, optimizer, progress, cfg, table)
            break
        progress.epoch += 1
        progress.batch = 0
        if rank == 0:
            _end_of_epoch(model, optimizer, progress, cfg, table, dev_utts, metrics, log)
        if world > 1:
            dist.barrier()
    if metrics:
        metrics.close()
    return progress, model


def _log_window(window: dict, progress: Progress, cfg: TrainConfig, world: int, metrics, log) -> None:
    elapsed = time.perf_counter() - window["t0"]
    counts = torch.tensor([window["utts"], window["frames"]], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(counts)  # throughput of all processes together
    record = {"step": progress.step, "epoch": progress.epoch, "loss": window["loss"] / window["batches"],
              "lr": learning_rate(cfg, progress.step), "utterances_per_s": float(counts[0]) / elapsed,
              "audio_s_per_s": float(counts[1]) * FRAME_SHIFT_S / elapsed, "time": time.time()}
    if metrics:
        metrics.write(json.dumps(record) + "\n")
        metrics.flush()
        log(f"step {record['step']} epoch {record['epoch']} loss {record['loss']:.3f} lr {record['lr']:.2e} "
            f"{record['utterances_per_s']:.1f} utt/s {record['audio_s_per_s']:.1f} audio-s/s")
    window.update(loss=0.0, batches=0, utts=0, frames=0, t0=time.perf_counter())


def _end_of_epoch(model, optimizer, progress: Progress, cfg: TrainConfig, table: TokenTable,
                  dev_utts: Sequence[Utterance], metrics, log) -> None:
    out = cfg.run.path
    subset = list(dev_utts[: cfg.data.dev_utterances])
    record = {"epoch": progress.epoch, "step": progress.step, "time": time.time()}
    if subset:
        hyps = transcribe(model, subset, table)
        report = wer_by_voice([u.text for u in subset], hyps, [u.voice for u in subset])
        record["dev_wer"] = report["all"]["wer"]
        if record["dev_wer"] < progress.best_wer:
            progress.best_wer = record["dev_wer"]
            save_checkpoint(out / "checkpoint-best.pt", model, optimizer, progress, cfg, table)
    save_checkpoint(out / "checkpoint-latest.pt", model, optimizer, progress, cfg, table)
    if metrics:
        metrics.write(json.dumps(record) + "\n")
        metrics.flush()
    log(f"epoch {progress.epoch} done at step {progress.step}" +
        (f": dev WER {record['dev_wer']:.3%}" if "dev_wer" in record else ""))


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Train an RNN-T on a synthesized corpus.")
    p.add_argument("--config", required=True, type=Path)
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    from edgeasr.train.data import load_training_data  # corpus + tokens: the heavy imports only here
    train_utts, dev_utts, table = load_training_data(cfg)
    train(cfg, train_utts, dev_utts, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
