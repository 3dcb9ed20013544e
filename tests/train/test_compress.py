"""Compression-aware training end to end: the [compress] table, the loop, resuming, export, and parity with the
native runtime (the exported model computes what the quantized training forward computed)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeasr.kernels import QuantizedMatrix
from edgeasr.model_file import load_model
from edgeasr.recognizer import Recognizer
from edgeasr.tokens import TokenTable
from edgeasr.train.batching import collate
from edgeasr.train.config import CompressConfig, TrainConfig, load_config
from edgeasr.train.export import checkpoint_masks, export_model, load_trained
from edgeasr.train.model import BLANK
from edgeasr.train.qat import Quantizer, qat_encoder, qat_greedy_decode, qat_joiner
from edgeasr.train.train import train

from test_train import TABLE, tiny_config, tiny_utterances

ROOT = Path(__file__).resolve().parents[2]
# export_model needs piece scores (the runtime encodes biasing phrases with them)
SCORED = TokenTable(TABLE.pieces, [0.0] + [-float(i) for i in range(1, len(TABLE.pieces))])


def quiet(_):
    pass


# ---- the [compress] table


def test_example_configs_load_and_plain_configs_are_unchanged(tmp_path):
    qat8 = load_config(ROOT / "configs/student-qat8.toml")
    assert qat8.compress.qat_bits == 8 and qat8.compress.sparsity == 0 and qat8.compress.init_from
    sparse = load_config(ROOT / "configs/student-qat4-sparse50.toml")
    assert sparse.compress.qat_bits == 4 and sparse.compress.sparsity == 0.5
    assert sparse.compress.sparsity_end_step > sparse.compress.sparsity_start_step
    for cfg in (qat8, sparse):
        assert cfg.run.out_dir.startswith("~/.cache/edgeasr/runs/")
    plain = load_config(ROOT / "configs/student.toml")
    assert plain.compress is None and "compress" not in plain.to_dict()
    assert "compress" in sparse.to_dict()


@pytest.mark.parametrize("table, match", [
    ("qat_bits = 3", "compress.qat_bits"),
    ("sparsity = 1.0", "compress.sparsity"),
    ("distill_weight = 0.5", "compress.teacher"),
    ('targets = "teacher"', "compress.teacher"),
    ('distill_form = "partial"\nteacher = "t.pt"', "compress.distill_form"),
    ("qat_reg_weight = 0.1", "compress.qat_reg_weight"),
    ("qat_level_pull = 0.1", "compress.qat_level_pull"),
    ("qat_level_pull = 1.5\nqat_bits = 4", "compress.qat_level_pull"),
    ("sparsity = 0.5\nsparsity_start_step = 10\nsparsity_end_step = 5", "compress.sparsity_end_step"),
    ("sparsity_every = 0", "compress.sparsity_every"),
    ("qat_reg_ramp_steps = -1\nqat_bits = 8", "compress.qat_reg_ramp_steps"),
    ("prune = 0.5", r"\[compress\]: unknown keys"),
])
def test_bad_compress_tables(tmp_path, table, match):
    path = tmp_path / "c.toml"
    path.write_text(f'[model]\npreset = "student"\n[compress]\n{table}\n')
    with pytest.raises(ValueError, match=match):
        load_config(path)


# ---- the loop


def base_run(tmp_path_factory):
    """A float run of the tiny model that has learnt its utterances (shared by the tests below)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("float")
    utts = tiny_utterances()
    train(tiny_config(out, max_steps=300), utts, utts[:4], SCORED, log=quiet)
    return out / "checkpoint-latest.pt", utts


@pytest.fixture(scope="module")
def float_run(tmp_path_factory):
    return base_run(tmp_path_factory)


def test_a_plain_run_writes_what_it_wrote_before(float_run):
    """No [compress] table: the checkpoint and config.json carry no trace of compression (resuming runs that
    started before it existed sees the same files)."""
    start, _ = float_run
    state = torch.load(start, weights_only=False)
    assert set(state) == {"model", "optimizer", "progress", "config", "tokens", "torch_rng"}
    assert "compress" not in state["config"]
    assert checkpoint_masks(start) == {}


def compress_config(out, start, max_steps, **compress):
    cfg = tiny_config(out, max_steps=max_steps)
    cfg.optim = dataclasses.replace(cfg.optim, lr=1e-3, warmup_steps=1)
    cfg.compress = CompressConfig(init_from=str(start), **compress)
    return cfg


SPARSE4 = dict(qat_bits=4, qat_reg_weight=0.01, qat_level_pull=0.05, qat_reg_ramp_steps=5, sparsity=0.5,
               sparsity_start_step=0, sparsity_end_step=10, sparsity_every=5)


def test_resuming_a_compression_run_is_exact(float_run, tmp_path):
    start, utts = float_run
    once = compress_config(tmp_path / "once", start, 14, **SPARSE4)
    _, straight = train(once, utts, utts[:2], SCORED, log=quiet)
    twice = compress_config(tmp_path / "twice", start, 7, **SPARSE4)
    train(twice, utts, utts[:2], SCORED, log=quiet)
    assert checkpoint_masks(tmp_path / "twice" / "checkpoint-latest.pt")  # saved mid-ramp
    twice.run.max_steps = 14
    progress, resumed = train(twice, utts, utts[:2], SCORED, log=quiet)
    assert progress.step == 14
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    masks = checkpoint_masks(tmp_path / "twice" / "checkpoint-latest.pt")
    assert masks.keys() == checkpoint_masks(tmp_path / "once" / "checkpoint-latest.pt").keys()
    for name, mask in masks.items():
        assert abs((1 - mask.float().mean()) - 0.5) < 0.01, name


def test_init_from_must_fit(float_run, tmp_path):
    start, utts = float_run
    cfg = compress_config(tmp_path, start, 2, qat_bits=8)
    cfg.model = dataclasses.replace(cfg.model, d_model=16)
    with pytest.raises(ValueError, match="compress.init_from: its weights do not fit"):
        train(cfg, utts, utts[:2], SCORED, log=quiet)
    cfg = compress_config(tmp_path / "b", start, 2, qat_bits=8)
    with pytest.raises(ValueError, match="compress.init_from: its token table differs"):
        train(cfg, utts, utts[:2], TokenTable(["<blk>"] + [f"x{i}" for i in range(7)]), log=quiet)


def test_distillation_and_teacher_targets_train(float_run, tmp_path):
    """A student started from scratch learns with the float run as its teacher, on the teacher's hypotheses."""
    start, utts = float_run
    cfg = compress_config(tmp_path, start, 6, teacher=str(start), distill_weight=0.1, targets="teacher")
    cfg.compress = dataclasses.replace(cfg.compress, init_from="")  # fresh student
    progress, model = train(cfg, utts, utts[:2], SCORED, log=quiet)
    assert progress.step == 6
    teacher, _ = load_trained(start)
    assert any(not torch.equal(p, q) for p, q in zip(model.state_dict().values(), teacher.state_dict().values()))


# ---- export and parity with the runtime


def native_greedy(network, features):
    """Greedy search on the native network, one symbol per frame (as the runtime's GreedySearch), and the
    log-probs it saw on its path."""
    enc = network.encode(features, network.init_state())
    projected = network.project_encoder(enc)
    context = [BLANK] * network.context_size
    hyp, seen = [], []
    for t in range(projected.shape[0]):
        dec = network.decoder_projected(np.array([context], dtype=np.int32))
        log_probs = network.joint_log_probs(projected[t], dec)[0]
        seen.append(log_probs)
        best = int(log_probs.argmax())
        if best != BLANK:
            hyp.append(best)
            context = context[1:] + [best]
    return hyp, enc, np.stack(seen)


def assert_nearly_all_close(native, trained):
    """Float summation order differs (int32 sums times scales natively), and where that moves an activation across
    a rounding tie its int8 value differs by one step, a difference the LSTM state then carries along: small on
    average, never large."""
    diff = np.abs(native - trained)
    assert diff.max() < 2e-2, diff.max()
    assert diff.mean() < 5e-3, diff.mean()
    return bool(diff.max() < 1e-5)


@pytest.mark.parametrize("bits, compress, steps", [(8, dict(qat_bits=8, qat_reg_weight=0.01), 14), (4, SPARSE4, 30)])
def test_exported_model_decodes_natively_as_training_measured(float_run, tmp_path, bits, compress, steps):
    start, utts = float_run
    cfg = compress_config(tmp_path, start, steps, **compress)
    _, model = train(cfg, utts, utts[:2], SCORED, log=quiet)
    ckpt = tmp_path / "checkpoint-latest.pt"
    sparsity = compress.get("sparsity", 0.0)
    out = export_model(ckpt, tmp_path / "model.safetensors", weights=f"int{bits}", sparsity=sparsity)
    masks = checkpoint_masks(ckpt) if sparsity else None

    # The file's zeros are exactly the masks' (plus kept weights that round to 0), and the integers are QAT's.
    loaded = load_model(out)
    q = Quantizer(model, bits, masks, activations=True)
    for name, w in q.weights.items():
        stored = loaded.tensors[name]
        assert isinstance(stored, QuantizedMatrix) and stored.bits == bits and stored.sparse == bool(sparsity)
        np.testing.assert_allclose(stored.to_float(), w.detach().numpy(), rtol=0, atol=1e-6, err_msg=name)
        if masks:
            assert np.all(stored.to_int8()[~masks[name].numpy()] == 0), name
            assert abs(stored.density - 0.5) < 0.01 + float((stored.to_int8()[masks[name].numpy()] == 0).mean())

    network = Recognizer(out).network
    model.eval()
    matched = exact = 0
    for u in utts:
        x, lengths, _, _ = collate([u])
        with torch.no_grad():
            enc, _ = qat_encoder(model, x, lengths, q)
        hyp, native_enc, native_log_probs = native_greedy(network, np.ascontiguousarray(x[0].numpy()))
        exact += assert_nearly_all_close(native_enc, enc[0].numpy())
        torch_hyp = qat_greedy_decode(model, x, lengths, bits, masks)[0]
        assert hyp == torch_hyp, u.uid
        matched += hyp == u.tokens
        # The log-probs along the path, recomputed in torch with the same contexts.
        context, rows = [BLANK] * model.cfg.context_size, []
        with torch.no_grad():
            for t in range(enc.shape[1]):
                dec = model.decoder(torch.tensor([[context]]))[:, 0]
                log_probs = qat_joiner(model, enc[:, t], dec, q).log_softmax(-1)[0]
                rows.append(log_probs.numpy())
                best = int(log_probs.argmax())
                if best != BLANK:
                    context = context[1:] + [best]
        assert_nearly_all_close(native_log_probs, np.stack(rows))
    assert exact >= 0.75 * len(utts), exact  # without a rounding tie the two agree to float precision
    assert matched >= len(utts) // 2, matched  # the fine-tuned model still recognizes what it learnt


def test_export_keeps_exactly_the_saved_masks(float_run, tmp_path):
    """Masks in a checkpoint decide the zeros, whatever the magnitudes say; a different sparsity is refused."""
    start, _ = float_run
    state = torch.load(start, weights_only=False)
    model, _ = load_trained(start)
    g = torch.Generator().manual_seed(0)
    from edgeasr.train.qat import export_view

    masks = {}
    for name, w in export_view(model).items():
        keep = torch.ones(w.numel(), dtype=torch.bool)
        keep[torch.randperm(w.numel(), generator=g)[: round(0.5 * w.numel())]] = False  # random, not by magnitude
        masks[name] = keep.view(w.shape)
    state["compress"] = {"masks": masks}
    torch.save(state, tmp_path / "masked.pt")
    loaded = load_model(export_model(tmp_path / "masked.pt", tmp_path / "m.safetensors", weights="int8", sparsity=0.5))
    for name, keep in masks.items():
        q = loaded.tensors[name].to_int8()
        assert np.all(q[~keep.numpy()] == 0), name
        assert np.mean(q[keep.numpy()] != 0) > 0.9, name  # the kept weights were not dropped by magnitude
        expected = QuantizedMatrix.from_float(export_view(model)[name].detach().numpy(), bits=8,
                                              sparsity=keep.numpy())
        np.testing.assert_array_equal(q, expected.to_int8(), err_msg=name)
    with pytest.raises(ValueError, match="sparsity: the checkpoint's mask of .* drops 0.500"):
        export_model(tmp_path / "masked.pt", tmp_path / "m2.safetensors", weights="int4", sparsity=0.7)


def _worker(rank, world, port, start, out_dir, result_dir):
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    utts = tiny_utterances(n=16)
    _, model = train(compress_config(out_dir, start, 6, **SPARSE4), utts, utts[:2], SCORED, log=quiet)
    torch.save(model.state_dict(), Path(result_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_compress_in_lockstep(float_run, tmp_path):
    """Compression computes its own forward (not through DDP) and averages gradients itself: both processes end
    with the same weights, zeros included."""
    import torch.multiprocessing as mp

    from test_train import _free_port

    start, _ = float_run
    results = tmp_path / "results"
    results.mkdir()
    mp.start_processes(_worker, args=(2, _free_port(), str(start), str(tmp_path / "run"), str(results)), nprocs=2,
                       join=True, start_method="spawn")
    a, b = torch.load(results / "rank0.pt"), torch.load(results / "rank1.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    initial, _ = load_trained(start)
    assert any(not torch.equal(a[k], v) for k, v in initial.state_dict().items())
    assert float((a["joiner.output.weight"] == 0).float().mean()) >= 0.15  # pruning on its way (step 5 of 10)
