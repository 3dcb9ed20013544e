"""The training loop: resumable checkpoints, metrics log, SpecAugment, fixed seeds, torch.distributed (gloo).

Run one process with ``edgeasr train --config configs/student.toml``, or several with
``torchrun --nproc-per-node 2 -m edgeasr.train.train --config ...``: each process takes every world-th batch, and
gradients are averaged by DistributedDataParallel over gloo. A run directory holds ``checkpoint-latest.pt``
(written atomically), ``checkpoint-best.pt`` (lowest dev WER), ``metrics.jsonl`` and ``config.json``; starting
again with the same directory resumes where the latest checkpoint left off, at the same batch of the same epoch.

A ``[compress]`` table (``config.CompressConfig``) turns the run into compression-aware training: it may start from
another run's weights (``init_from``), add a distillation loss against a teacher, train with quantization in the
forward pass and a pull towards the quantization levels, and prune on a schedule; the pruning masks travel in the
checkpoints. Without the table the loop is the plain one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
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
from edgeasr.train.config import CompressConfig, TrainConfig, load_config
from edgeasr.train.evaluate import transcribe, wer_by_voice
from edgeasr.train.model import BLANK, Transducer, make_context
from edgeasr.train.lead_extend import extend_leads
from edgeasr.train.onset_crop import crop_onsets
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
                    table: TokenTable, compression: Optional["Compression"] = None) -> None:
    tmp = path.with_suffix(".tmp")
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "progress": vars(progress),
             "config": cfg.to_dict(), "tokens": table.to_json(), "torch_rng": torch.get_rng_state()}
    if compression is not None:
        state["compress"] = compression.state_dict()
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves half a checkpoint


def load_checkpoint(path: Path, model: Transducer, optimizer,
                    compression: Optional["Compression"] = None) -> Progress:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if compression is not None:
        compression.load_state_dict(state.get("compress") or {})
    torch.set_rng_state(state["torch_rng"])
    return Progress(**state["progress"])


def train(cfg: TrainConfig, train_utts: Sequence[Utterance], dev_utts: Sequence[Utterance], table: TokenTable,
          log: Callable[[str], None] = print) -> tuple[Progress, Transducer]:
    """Trains (or resumes) the run in ``cfg.run.out_dir``; returns where it stopped and the model."""
    rank, world = setup_distributed()
    out = cfg.run.path
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.run.seed)  # identical initial weights in every process
    device = torch.device(cfg.run.device)
    if device.type == "cuda" and world > 1:
        raise ValueError("run.device: several processes on GPUs (one device per rank) are not supported yet; train "
                         "on one GPU, or on CPUs with torchrun")
    if device.type == "cuda":
        # TF32 products: several times the float32 rate on tensor cores, with 10-bit mantissas that SGD noise hides.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = Transducer(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    latest = out / "checkpoint-latest.pt"
    compression = Compression(cfg.compress, model, table) if cfg.compress is not None else None
    if latest.exists():
        progress = load_checkpoint(latest, model, optimizer, compression)
    else:
        progress = Progress()
        if compression is not None and cfg.compress.init_from:
            compression.init_weights(table)  # the normalization comes with the weights
        else:
            model.encoder.set_normalization(*feature_statistics(train_utts))
    if rank == 0:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        log(f"model: {model.num_parameters():,} parameters; {len(train_utts)} training utterances; "
            f"{world} process(es); " + (f"resuming at epoch {progress.epoch} batch {progress.batch}"
                                        if latest.exists() else "starting"))
    # Compression computes its own forward pass (not through DDP): its gradients are averaged by hand.
    net = DistributedDataParallel(model) if world > 1 and compression is None else model
    augment_rng = torch.Generator().manual_seed(cfg.run.seed * 7919 + rank + 1000 * progress.step)
    metrics = open(out / "metrics.jsonl", "a") if rank == 0 else None
    window = {"loss": 0.0, "batches": 0, "utts": 0, "frames": 0, "t0": time.perf_counter()}
    started = time.monotonic()
    out_of_time = False

    while progress.epoch < cfg.optim.epochs:
        batches = length_batches(train_utts, cfg.data.max_frames, cfg.run.seed, progress.epoch, rank, world)
        model.train()
        for b in range(progress.batch, len(batches)):
            utts = [train_utts[i] for i in batches[b]]
            x, lengths, y, y_lengths = collate(utts)
            leads = torch.tensor([u.lead_frames for u in utts], dtype=torch.int64)
            if cfg.data.lead_extend > 0:  # before the crop, which may then start anywhere in the longer lead
                max_extra = int(round(cfg.data.lead_extend_max_s / FRAME_SHIFT_S))
                x, lengths, leads = extend_leads(x, lengths, leads, cfg.data.lead_extend, max_extra, augment_rng)
            if cfg.data.onset_crop > 0:
                x, lengths = crop_onsets(x, lengths, leads, cfg.data.onset_crop, augment_rng)
            clean = x
            x = spec_augment(x, lengths, cfg.specaugment, augment_rng)
            # Augmentation draws on the CPU generator (the same draws on any device); the model sees the batch where
            # it lives.
            x, lengths, y, y_lengths = (t.to(device) for t in (x, lengths, y, y_lengths))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, progress.step)
            if compression is None:
                loss = net(x, lengths, y, y_lengths)
            else:
                compression.before_step(progress.step, log if rank == 0 else None)
                loss = compression.loss(x, lengths, y, y_lengths, progress.step, clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if compression is not None and world > 1:
                _average_gradients(model, world)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            if compression is not None:
                compression.after_step(progress.step)
            progress.step += 1
            progress.batch = b + 1
            window["loss"] += float(loss.detach())
            window["batches"] += 1
            window["utts"] += len(batches[b])
            window["frames"] += int(lengths.sum())
            if progress.step % cfg.run.log_every == 0:
                _log_window(window, progress, cfg, world, metrics, log)
            if progress.step % cfg.run.checkpoint_every == 0 and rank == 0:
                save_checkpoint(latest, model, optimizer, progress, cfg, table, compression)
                if cfg.run.keep_every and progress.step % cfg.run.keep_every == 0:
                    shutil.copyfile(latest, out / f"checkpoint-step{progress.step}.pt")
            if cfg.run.max_steps and progress.step >= cfg.run.max_steps:
                break
            if cfg.run.max_wall_s and time.monotonic() - started >= cfg.run.max_wall_s:
                out_of_time = True
                break
        if (cfg.run.max_steps and progress.step >= cfg.run.max_steps) or out_of_time:
            if rank == 0:
                save_checkpoint(latest, model, optimizer, progress, cfg, table, compression)
                if out_of_time:
                    log(f"run.max_wall_s ({cfg.run.max_wall_s:g} s) reached at step {progress.step} (epoch "
                        f"{progress.epoch}, batch {progress.batch}); max_steps = {progress.step} replays this run")
            break
        progress.epoch += 1
        progress.batch = 0
        if rank == 0:
            _end_of_epoch(model, optimizer, progress, cfg, table, dev_utts, metrics, log, compression)
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
                  dev_utts: Sequence[Utterance], metrics, log, compression: Optional["Compression"] = None) -> None:
    out = cfg.run.path
    subset = list(dev_utts[: cfg.data.dev_utterances])
    record = {"epoch": progress.epoch, "step": progress.step, "time": time.time()}
    if subset:
        hyps = transcribe(model, subset, table) if compression is None else compression.transcribe(subset, table)
        report = wer_by_voice([u.text for u in subset], hyps, [u.voice for u in subset])
        record["dev_wer"] = report["all"]["wer"]
        if record["dev_wer"] < progress.best_wer:
            progress.best_wer = record["dev_wer"]
            save_checkpoint(out / "checkpoint-best.pt", model, optimizer, progress, cfg, table, compression)
    save_checkpoint(out / "checkpoint-latest.pt", model, optimizer, progress, cfg, table, compression)
    if metrics:
        metrics.write(json.dumps(record) + "\n")
        metrics.flush()
    log(f"epoch {progress.epoch} done at step {progress.step}" +
        (f": dev WER {record['dev_wer']:.3%}" if "dev_wer" in record else ""))


def _adopt_bpe_model(init_from: Path, out: Path) -> None:
    """A fine-tune keeps the tokens of the run it starts from: its bpe.model, copied before the data loader would
    train a new one."""
    if not (out / "bpe.model").exists() and (init_from.parent / "bpe.model").is_file():
        out.mkdir(parents=True, exist_ok=True)
        for name in ("bpe.model", "bpe.vocab"):
            if (init_from.parent / name).is_file():
                shutil.copyfile(init_from.parent / name, out / name)


def _average_gradients(model: Transducer, world: int) -> None:
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)


class Compression:
    """The [compress] table at work: the start weights, the teacher, the loss terms, the pruning masks."""

    def __init__(self, cfg: CompressConfig, model: Transducer, table: TokenTable):
        from edgeasr.train.export import load_trained
        from edgeasr.train.sparsify import Pruner, PruningSchedule

        cfg.validate()
        self.cfg = cfg
        self.model = model
        self.teacher = None
        if cfg.teacher:
            self.teacher, teacher_table = load_trained(Path(cfg.teacher).expanduser())
            self.teacher.to(next(model.parameters()).device)
            if teacher_table.pieces != table.pieces:
                raise ValueError("compress.teacher: its token table differs from this run's (the same BPE model "
                                 "is needed for distillation)")
            for p in self.teacher.parameters():
                p.requires_grad_(False)
        self.pruner = None
        if cfg.sparsity > 0:
            self.pruner = Pruner(model, PruningSchedule(cfg.sparsity, cfg.sparsity_start_step, cfg.sparsity_end_step,
                                                        cfg.sparsity_every))

    def init_weights(self, table: TokenTable) -> None:
        """Load ``init_from``'s weights (normalization included); a CTC head the start model lacks starts fresh."""
        from edgeasr.train.export import load_trained

        start, start_table = load_trained(Path(self.cfg.init_from).expanduser())
        if start_table.pieces != table.pieces:
            raise ValueError("compress.init_from: its token table differs from this run's (copy its bpe.model into "
                             "the run directory)")
        weights = start.state_dict()
        if self.model.ctc_head is None:
            weights = {k: v for k, v in weights.items() if not k.startswith("ctc_head.")}
        try:
            missing, unexpected = self.model.load_state_dict(weights, strict=False)
        except RuntimeError as e:
            raise ValueError(f"compress.init_from: its weights do not fit [model]: {e}") from None
        if unexpected or any(not k.startswith("ctc_head.") for k in missing):
            raise ValueError(f"compress.init_from: its weights do not fit [model] (missing {missing}, unexpected "
                             f"{unexpected})")

    @property
    def masks(self) -> Optional[dict]:
        return None if self.pruner is None else self.pruner.masks

    def before_step(self, step: int, log: Optional[Callable[[str], None]]) -> None:
        if self.pruner is not None and self.pruner.update(step) and log is not None:
            dropped = self.pruner.sparsity()
            log(f"step {step}: pruned to {sum(dropped.values()) / len(dropped):.1%} (mean over matrices)")

    def after_step(self, step: int) -> None:
        """After the optimizer's step ``step``: the decoupled pull to the quantization levels, then the masks."""
        from edgeasr.train.qat import penalty_weight, pull_to_levels_

        cfg = self.cfg
        fraction = penalty_weight(step, cfg.qat_level_pull, cfg.qat_reg_start_step, cfg.qat_reg_ramp_steps)
        if fraction > 0:
            pull_to_levels_(self.model, cfg.qat_bits, fraction, self.masks)
        if self.pruner is not None:
            self.pruner.apply()  # pruned weights stay zero whatever the optimizer did

    def loss(self, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor, y_lengths: torch.Tensor, step: int,
             clean: torch.Tensor) -> torch.Tensor:
        from edgeasr.train.distill import collapsed_kl, full_kl, teacher_hypotheses
        from edgeasr.train.loss import rnnt_loss
        from edgeasr.train.qat import export_view, level_penalty, penalty_weight, qat_logits

        cfg, model = self.cfg, self.model
        if cfg.targets == "teacher":
            y, y_lengths = teacher_hypotheses(self.teacher, clean.to(x.device), lengths)  # clean: still on the CPU
        if cfg.qat_bits == 0 and cfg.distill_weight == 0:
            loss = model(x, lengths, y, y_lengths)  # float; pruned weights are already zero
        else:
            if cfg.qat_bits:
                logits, enc, enc_lengths = qat_logits(model, x, lengths, y, y_lengths, cfg.qat_bits, self.masks,
                                                      cfg.qat_activations)
            else:
                logits, enc, enc_lengths = _float_logits(model, x, lengths, y, y_lengths)
            loss = rnnt_loss(logits, y, enc_lengths, y_lengths, blank=BLANK)
            if model.ctc_head is not None:
                loss = loss + model.cfg.ctc_weight * model._ctc_loss(enc, enc_lengths, y, y_lengths, "mean")
            if cfg.distill_weight > 0:
                with torch.no_grad():
                    teacher_logits, _, _ = _float_logits(self.teacher, x, lengths, y, y_lengths)
                kl = collapsed_kl if cfg.distill_form == "collapsed" else full_kl
                loss = loss + cfg.distill_weight * kl(logits, teacher_logits, y, enc_lengths, y_lengths)
        weight = penalty_weight(step, cfg.qat_reg_weight, cfg.qat_reg_start_step, cfg.qat_reg_ramp_steps)
        if weight > 0:
            loss = loss + weight * level_penalty(export_view(model), cfg.qat_bits, self.masks)
        return loss

    def transcribe(self, utts: Sequence[Utterance], table: TokenTable, batch_size: int = 16) -> list[str]:
        """Dev transcripts as the exported model would give them (quantized forward when qat_bits)."""
        from edgeasr.train.qat import qat_greedy_decode

        if not self.cfg.qat_bits:
            return transcribe(self.model, utts, table, batch_size)
        out: list[str] = []
        device = next(self.model.parameters()).device
        for i in range(0, len(utts), batch_size):
            x, lengths, _, _ = collate(utts[i:i + batch_size])
            x, lengths = x.to(device), lengths.to(device)
            out += [table.decode(h) for h in qat_greedy_decode(self.model, x, lengths, self.cfg.qat_bits, self.masks)]
        return out

    def state_dict(self) -> dict:
        return {"masks": self.pruner.state_dict() if self.pruner is not None else {}}

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint's "compress" entry; a checkpoint of a run without pruning (no masks) leaves them all kept."""
        masks = state.get("masks") or {}
        if self.pruner is not None and masks:
            self.pruner.load_state_dict(masks)


def _float_logits(model: Transducer, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor,
                  y_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits [N, T', U+1, V], enc, enc_lengths) of the float model, as its forward computes them."""
    enc, enc_lengths, _ = model.encoder(x, lengths)
    dec = model.decoder(make_context(y, y_lengths, model.cfg.context_size))
    return model.joiner(enc.unsqueeze(2), dec.unsqueeze(1)), enc, enc_lengths


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Train an RNN-T on a synthesized corpus.")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--packed", type=Path, default=None,
                   help="read the data from edgeasr.train.packed files in this folder (<corpus>-<split>-<k>.pack) "
                        "instead of the corpus cache: a machine without the corpus or its voices can train")
    p.add_argument("--device", default=None, help="override run.device (cpu, cuda, cuda:<n>)")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    if args.device is not None:
        cfg.run.device = args.device
        cfg.validate()
    if cfg.compress is not None and cfg.compress.init_from:
        _adopt_bpe_model(Path(cfg.compress.init_from).expanduser(), cfg.run.path)
    if args.packed is not None:
        from edgeasr.train.packed import load_training_data as load_packed
        train_utts, dev_utts, table = load_packed(cfg, args.packed)
    else:
        from edgeasr.train.data import load_training_data  # corpus + tokens: the heavy imports only here
        train_utts, dev_utts, table = load_training_data(cfg)
    train(cfg, train_utts, dev_utts, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
