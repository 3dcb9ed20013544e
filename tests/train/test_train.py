"""The training loop: it learns, checkpoints, resumes where it stopped, and runs data-parallel in 2 processes."""

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from edgeasr.tokens import TokenTable
from edgeasr.train.batching import Utterance, length_batches
from edgeasr.train.config import DataConfig, OptimConfig, RunConfig, TrainConfig
from edgeasr.train.evaluate import greedy_decode, wer_by_voice
from edgeasr.train.model import ModelConfig, Transducer
from edgeasr.train.specaugment import SpecAugmentConfig, spec_augment, vtlp_source_bins
from edgeasr.train.train import train

VOCAB = 8
TABLE = TokenTable(["<blk>", "▁a", "▁b", "▁c", "d", "e", "▁f", "g"])


def tiny_utterances(n=12, seed=0):
    """Utterances whose features encode their tokens (a token's pattern over a few frames), so a tiny model
    can learn them."""
    rng = np.random.default_rng(seed)
    patterns = rng.standard_normal((VOCAB, 16)).astype(np.float32)
    utts = []
    for i in range(n):
        tokens = rng.integers(1, VOCAB, size=rng.integers(2, 5)).tolist()
        frames = np.concatenate([np.repeat(patterns[t][None], 12, axis=0) for t in tokens])
        frames += 0.1 * rng.standard_normal(frames.shape).astype(np.float32)
        utts.append(Utterance(uid=f"u{i}", voice="v0" if i % 2 else "v1", text=TABLE.decode(tokens),
                              num_frames=len(frames), tokens=tokens, load_features=lambda f=frames: f))
    return utts


def tiny_config(out_dir, **run):
    model = ModelConfig(num_features=16, stack=4, d_model=32, hidden=64, num_layers=1, decoder_dim=32,
                        joiner_dim=32, vocab_size=VOCAB, dropout=0.0)
    return TrainConfig(model=model, data=DataConfig(vocab_size=VOCAB, max_frames=200, dev_utterances=4),
                       optim=OptimConfig(lr=5e-3, warmup_steps=5, epochs=1000, grad_clip=5.0),
                       specaugment=SpecAugmentConfig(enabled=False),
                       run=RunConfig(out_dir=str(out_dir), seed=3, checkpoint_every=5, log_every=5, **run))


def read_metrics(out_dir):
    return [json.loads(line) for line in (Path(out_dir) / "metrics.jsonl").read_text().splitlines()]


def test_learns_checkpoints_and_resumes(tmp_path):
    torch.set_num_threads(1)
    utts = tiny_utterances()
    cfg = tiny_config(tmp_path, max_steps=60)
    progress, _ = train(cfg, utts, utts[:4], TABLE, log=lambda s: None)
    assert progress.step == 60
    losses = [m["loss"] for m in read_metrics(tmp_path) if "loss" in m]
    assert losses[-1] < 0.5 * losses[0], losses
    assert (tmp_path / "checkpoint-latest.pt").exists() and (tmp_path / "checkpoint-best.pt").exists()
    assert all(m["audio_s_per_s"] > 0 for m in read_metrics(tmp_path) if "loss" in m)
    # A second run with a higher step limit continues from step 60, not from scratch.
    cfg.run.max_steps = 70
    cfg.run.keep_every = 10
    progress, _ = train(cfg, utts, utts[:4], TABLE, log=lambda s: None)
    assert progress.step == 70
    assert sorted(p.name for p in tmp_path.glob("checkpoint-step*.pt")) == ["checkpoint-step70.pt"]
    assert torch.load(tmp_path / "checkpoint-step70.pt", weights_only=False)["progress"]["step"] == 70
    steps = [m["step"] for m in read_metrics(tmp_path) if "loss" in m]
    assert steps == sorted(steps) and steps[-1] == 70 and steps.count(60) == 1


def test_training_with_onset_crop_runs_and_learns(tmp_path):
    torch.set_num_threads(1)
    utts = tiny_utterances()
    for u in utts:
        u.lead_frames = 6  # half a token's pattern may go: what the crop takes is never speech in a real corpus
    cfg = tiny_config(tmp_path, max_steps=40)
    cfg.data.onset_crop = 1.0
    progress, _ = train(cfg, utts, utts[:4], TABLE, log=lambda s: None)
    losses = [m["loss"] for m in read_metrics(tmp_path) if "loss" in m]
    assert progress.step == 40 and losses[-1] < 0.7 * losses[0], losses


def test_training_with_lead_extension_and_onset_crop_runs_and_learns(tmp_path):
    torch.set_num_threads(1)
    utts = tiny_utterances()
    for u in utts:
        u.lead_frames = 6
    cfg = tiny_config(tmp_path, max_steps=40)
    cfg.data.lead_extend, cfg.data.lead_extend_max_s, cfg.data.onset_crop = 1.0, 0.2, 0.5
    progress, _ = train(cfg, utts, utts[:4], TABLE, log=lambda s: None)
    losses = [m["loss"] for m in read_metrics(tmp_path) if "loss" in m]
    assert progress.step == 40 and losses[-1] < 0.7 * losses[0], losses


def test_greedy_decode_and_wer():
    torch.manual_seed(0)
    model = Transducer(tiny_config("unused").model)
    with torch.no_grad():  # a joiner that always prefers blank emits nothing
        model.joiner.output.bias.zero_()
        model.joiner.output.weight.zero_()
        model.joiner.output.bias[0] = 10.0
    x = torch.randn(2, 40, 16)
    assert greedy_decode(model, x, torch.tensor([40, 20])) == [[], []]
    report = wer_by_voice(["a b c", "a b"], ["a b c", "a x"], ["v0", "v1"])
    assert report["v0"]["wer"] == 0.0 and report["v1"]["wer"] == 0.5 and report["all"]["wer"] == pytest.approx(0.2)


def test_spec_augment_masks_only_inside_lengths():
    x = torch.randn(2, 50, 16)
    cfg = SpecAugmentConfig(freq_masks=2, freq_width=4, time_masks=2, time_width_frac=0.2)
    y = spec_augment(x, torch.tensor([50, 30]), cfg, torch.Generator().manual_seed(0))
    assert not torch.equal(x, y)
    assert torch.equal(x[1, 30:], y[1, 30:])


def test_vtlp_map_is_the_identity_at_one_monotone_and_keeps_the_band_edges():
    assert torch.allclose(vtlp_source_bins(80, 1.0), torch.arange(80, dtype=torch.float32), atol=1e-4)
    for alpha in (0.88, 1.12):
        pos = vtlp_source_bins(80, alpha)
        assert torch.all(pos[1:] >= pos[:-1])
        assert abs(float(pos[-1]) - 79) < 0.5
    # a shorter vocal tract (alpha > 1) raises formants: output bins read from lower input bins in the warped band
    assert torch.all(vtlp_source_bins(80, 1.12)[10:60] < torch.arange(10, 60) - 0.5)
    assert torch.all(vtlp_source_bins(80, 0.88)[10:60] > torch.arange(10, 60) + 0.5)


def test_frequency_warp_moves_a_spectral_peak_and_leaves_padding_alone():
    x = torch.zeros(2, 20, 80)
    x[:, :, 40] = 10.0  # a "formant" at bin 40
    cfg = SpecAugmentConfig(freq_masks=0, time_masks=0, freq_warp=0.15)
    moved = 0
    for seed in range(8):
        y = spec_augment(x, torch.tensor([20, 12]), cfg, torch.Generator().manual_seed(seed))
        assert torch.equal(y[1, 12:], x[1, 12:])
        peak = int(y[0, 0].argmax())
        assert abs(peak - 40) <= 8 and float(y[0, 0].sum()) > 0
        moved += peak != 40
    assert moved >= 4
    with pytest.raises(ValueError, match="freq_warp"):
        SpecAugmentConfig(freq_warp=0.6).validate()


def test_batches_cover_each_utterance_once_and_shard_evenly():
    utts = tiny_utterances(n=40)
    full = length_batches(utts, 200, seed=1, epoch=0)
    assert sorted(i for b in full for i in b) == list(range(40))
    assert all(max(utts[i].num_frames for i in b) * len(b) <= 200 or len(b) == 1 for b in full)
    shards = [length_batches(utts, 200, seed=1, epoch=0, rank=r, world=2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) and not set(map(tuple, shards[0])) & set(map(tuple, shards[1]))
    assert length_batches(utts, 200, seed=1, epoch=1) != full  # reshuffled each epoch


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out_dir, result_dir):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    utts = tiny_utterances(n=16)
    _, model = train(tiny_config(out_dir, max_steps=10), utts, utts[:4], TABLE, log=lambda s: None)
    torch.save(model.state_dict(), Path(result_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_train_in_lockstep(tmp_path):
    """torch.distributed over gloo, as torchrun would start it: both processes end with identical weights that
    differ from the initial ones, and rank 0 logs the throughput of both."""
    out, results = tmp_path / "run", tmp_path / "results"
    results.mkdir()
    mp.start_processes(_worker, args=(2, _free_port(), str(out), str(results)), nprocs=2, join=True,
                       start_method="spawn")
    a = torch.load(results / "rank0.pt")
    b = torch.load(results / "rank1.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(3)
    initial = Transducer(tiny_config(out).model).state_dict()
    assert any(not torch.equal(a[k], initial[k]) for k in a)
    logged = [m for m in read_metrics(out) if "loss" in m]
    assert [m["step"] for m in logged] == [5, 10]


def test_trained_model_decodes_what_it_heard(tmp_path):
    """Train, then greedy-decode the same audio: the transcripts come back, so the decoder path uses the audio
    (a model that only learned its language model would emit the same guess for every utterance)."""
    from edgeasr.train.evaluate import transcribe

    torch.set_num_threads(1)
    utts = tiny_utterances(n=12)
    _, model = train(tiny_config(tmp_path, max_steps=300), utts, utts[:4], TABLE, log=lambda s: None)
    hyps = transcribe(model, utts, TABLE)
    assert sum(h == u.text for h, u in zip(hyps, utts)) >= 9, list(zip(hyps, [u.text for u in utts]))


def test_max_wall_s_stops_with_a_checkpoint_and_says_how_to_replay(tmp_path):
    torch.set_num_threads(1)
    utts = tiny_utterances()
    cfg = tiny_config(tmp_path, max_wall_s=1e-9)  # out of time after the first step
    lines = []
    progress, _ = train(cfg, utts, utts[:4], TABLE, log=lines.append)
    assert progress.step == 1
    saved = torch.load(tmp_path / "checkpoint-latest.pt", weights_only=False)["progress"]
    assert saved["step"] == 1 and saved["epoch"] == 0
    assert any("max_steps = 1 replays this run" in line for line in lines), lines


@pytest.mark.parametrize("field,value", [("device", "gpu"), ("device", "cuda:x"), ("max_wall_s", -1.0),
                                         ("max_wall_s", True)])
def test_run_config_rejects_bad_device_and_wall_time(tmp_path, field, value):
    cfg = tiny_config(tmp_path)
    setattr(cfg.run, field, value)
    with pytest.raises(ValueError, match=f"run.{field}"):
        cfg.validate()
