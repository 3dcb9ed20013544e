import json

import numpy as np
import pytest
import torch

from edgeasr.cli import main as cli_main
from edgeasr.kernels import QuantizedMatrix
from edgeasr.model_file import load_model
from edgeasr.tokens import TokenTable
from edgeasr.train.config import TrainConfig
from edgeasr.train.export import (checkpoint_from_model, export_checkpoint, export_model, folded_input_proj,
                                  load_exported, load_trained)
from edgeasr.train.model import ModelConfig, Transducer


def test_export_round_trips_weights_config_and_tokens(tmp_path):
    cfg = ModelConfig(num_features=16, d_model=32, hidden=64, num_layers=1, decoder_dim=32, joiner_dim=32,
                      vocab_size=5)
    torch.manual_seed(0)
    model = Transducer(cfg)
    train_cfg = TrainConfig(model=cfg)
    table = TokenTable(["<blk>", "▁a", "▁b", "c", "d"])
    torch.save({"model": model.state_dict(), "config": train_cfg.to_dict(), "tokens": list(table.pieces),
                "progress": {"step": 7, "epoch": 1}}, tmp_path / "ckpt.pt")
    out = export_checkpoint(tmp_path / "ckpt.pt", tmp_path / "m.safetensors")
    loaded, loaded_table = load_exported(out)
    assert loaded_table == table and loaded.cfg == cfg
    for k, v in model.state_dict().items():  # float16 storage: within half-precision rounding
        assert torch.allclose(loaded.state_dict()[k], v, rtol=1e-3, atol=1e-4), k


def test_rejects_other_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not an edgeasr.train.export"):
        load_exported(tmp_path / "other.safetensors")


# ---- the recognizer's model file (export_model)

TINY = ModelConfig(num_features=10, stack=3, d_model=16, hidden=24, num_layers=2, decoder_dim=12, context_size=2,
                   joiner_dim=14, vocab_size=6, ctc_weight=0.3)
SCORED = TokenTable(["<blk>", "<unk>", "▁a", "▁b", "c", "d"], [0.0, 0.0, -1.0, -2.0, -3.0, -4.0])


def tiny_checkpoint(path, normalize=True, tokens=None, seed=0):
    torch.manual_seed(seed)
    model = Transducer(TINY)
    if normalize:
        model.encoder.set_normalization(torch.randn(TINY.num_features) * 3 - 7, torch.rand(TINY.num_features) * 3 + 0.5)
    torch.save({"model": model.state_dict(), "config": TrainConfig(model=TINY).to_dict(),
                "tokens": SCORED.to_json() if tokens is None else tokens}, path)
    return model


def test_folding_the_normalization_is_exact(tmp_path):
    model = tiny_checkpoint(tmp_path / "ckpt.pt")
    enc = model.encoder
    feats = torch.randn(2, 12, TINY.num_features) * 3 - 7
    normalized = ((feats - enc.feature_mean) / enc.feature_std).reshape(2, 4, -1)
    expected = enc.input_proj(normalized).double()
    weight, bias = folded_input_proj(model)
    folded = feats.double().reshape(2, 4, -1) @ weight.T + bias
    torch.testing.assert_close(folded, expected, rtol=1e-5, atol=1e-5)
    # And through the file: the float32 export's input_proj on raw features gives the same outputs.
    out = export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", weights="float32")
    t = load_model(out).tensors
    raw = feats.numpy().reshape(2, 4, -1)
    y = raw @ t["encoder.input_proj.weight"].T.astype(np.float64) + t["encoder.input_proj.bias"]
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=1e-5, atol=1e-4)


def test_float32_export_reproduces_the_weights_exactly(tmp_path):
    model = tiny_checkpoint(tmp_path / "ckpt.pt", normalize=False)  # identity normalization: folding changes nothing
    loaded = load_model(export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", weights="float32"))
    state = model.state_dict()
    expected = {k for k in state if not k.startswith("ctc_head.") and "feature_" not in k}
    assert set(loaded.tensors) == expected
    assert any(k.startswith("ctc_head.") for k in state)  # there was a CTC head to drop
    for name in expected:
        np.testing.assert_array_equal(loaded.tensors[name], state[name].numpy(), err_msg=name)
    assert set(loaded.weights_format.values()) == {"float32"}
    assert loaded.architecture.d_model == 16 and loaded.architecture.vocab_size == 6
    assert loaded.features.num_bins == 10 and loaded.subsampling == 3
    assert loaded.tokens == SCORED and loaded.tokens.scores == SCORED.scores
    assert "ckpt.pt" in loaded.source and "float32" in loaded.source


@pytest.mark.parametrize("weights, sparsity, fmt", [("int8", 0.0, "dense_q8"), ("int4", 0.0, "dense_q4"),
                                                    ("int8", 0.5, "sparse_q8"), ("int4", 0.7, "sparse_q4")])
def test_quantized_exports(tmp_path, weights, sparsity, fmt):
    model = tiny_checkpoint(tmp_path / "ckpt.pt")
    loaded = load_model(export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", weights, sparsity))
    assert set(loaded.weights_format.values()) == {fmt}
    state = model.state_dict()
    folded_w = folded_input_proj(model)[0].float().numpy()
    for name in loaded.architecture.matrices():
        q = loaded.tensors[name]
        assert isinstance(q, QuantizedMatrix)
        w = folded_w if name == "encoder.input_proj.weight" else state[name].numpy()
        kept = q.to_int8() != 0
        # Kept weights are within half a step of the original; the dropped fraction is the sparsity asked for.
        step = np.broadcast_to(q.scales[:, None], w.shape)
        assert np.all(np.abs(q.to_float() - w)[kept] <= 0.5 * step[kept] * (1 + 1e-5)), name
        if sparsity:
            assert abs(q.density - (1 - sparsity)) < 0.02, name
    assert loaded.tensors["decoder.embedding.weight"].dtype == np.float32  # not a kernel matrix: stays float


def test_export_from_the_fp16_export_and_from_a_bpe_model_beside_the_checkpoint(tmp_path):
    from edgeasr.train.text import generate_requests
    from edgeasr.train.tokens import train_bpe

    cfg = ModelConfig(**{**vars(TINY), "vocab_size": 40})
    _, table = train_bpe([r.text for r in generate_requests("train", 300)], 40, model_prefix=tmp_path / "bpe")
    torch.manual_seed(1)
    model = Transducer(cfg)
    # As train.py saves it: a list of pieces, the run's bpe.model beside the checkpoint.
    torch.save({"model": model.state_dict(), "config": TrainConfig(model=cfg).to_dict(), "tokens": list(table.pieces),
                "progress": {"step": 3, "epoch": 0}}, tmp_path / "ckpt.pt")
    loaded = load_model(export_model(tmp_path / "ckpt.pt", tmp_path / "a.safetensors", weights="float32"))
    assert loaded.tokens.scores == table.scores
    assert loaded.tokens.encode("call mom") == table.encode("call mom")
    # The fp16 export of the same checkpoint: the weights rounded to float16, then exported.
    fp16 = export_checkpoint(tmp_path / "ckpt.pt", tmp_path / "fp16.safetensors")
    again = load_model(export_model(fp16, tmp_path / "b.safetensors", weights="float32",
                                    bpe_model=tmp_path / "bpe.model"))
    for name, t in again.tensors.items():
        np.testing.assert_array_equal(t, model.state_dict()[name].half().float().numpy(), err_msg=name)
    reloaded, reloaded_table = load_trained(fp16)
    assert reloaded_table == table


def test_export_errors(tmp_path):
    tiny_checkpoint(tmp_path / "ckpt.pt", tokens=list(SCORED.pieces))  # no scores, no bpe.model beside it
    with pytest.raises(ValueError, match="^bpe_model: .* carries no BPE piece scores"):
        export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="^weights: expected one of"):
        export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", weights="int2")
    for bad in (1.0, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match="^sparsity: expected a number in"):
            export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", sparsity=bad)
    with pytest.raises(ValueError, match="^sparsity: float32 weights have no sparse storage"):
        export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", weights="float32", sparsity=0.5)
    with pytest.raises(ValueError, match="is not a file"):
        export_model(tmp_path / "missing.pt", tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_legacy_checkpoint_without_normalization_buffers(tmp_path):
    model = tiny_checkpoint(tmp_path / "ckpt.pt", normalize=False)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    for k in ("encoder.feature_mean", "encoder.feature_std"):
        del state["model"][k]
    torch.save(state, tmp_path / "old.pt")
    loaded = load_model(export_model(tmp_path / "old.pt", tmp_path / "m.safetensors", weights="float32"))
    np.testing.assert_array_equal(loaded.tensors["encoder.input_proj.weight"],
                                  model.encoder.input_proj.weight.detach().numpy())


def test_cli_export_then_info(tmp_path, capsys):
    tiny_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "model.safetensors"
    assert cli_main(["export", str(tmp_path / "ckpt.pt"), str(out), "--weights", "int4", "--sparsity", "0.5"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert cli_main(["info", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    formats = {r["name"]: r["format"] for r in d["tensors"]}
    assert formats["joiner.output.weight"] == "sparse_q4" and formats["joiner.output.bias"] == "float32"
    assert d["totals"]["nonzeros"] < d["totals"]["parameters"]
    assert cli_main(["export", str(tmp_path / "ckpt.pt"), str(out), "--weights", "float32", "--sparsity", "0.5"]) == 1
    assert "sparsity: float32 weights have no sparse storage" in capsys.readouterr().err


def test_the_fp16_export_keeps_scores_it_finds(tmp_path):
    tiny_checkpoint(tmp_path / "ckpt.pt")  # tokens saved as a TokenTable JSON with scores
    _, table = load_exported(export_checkpoint(tmp_path / "ckpt.pt", tmp_path / "fp16.safetensors"))
    assert table.scores == SCORED.scores


# ---- back from a model file (checkpoint_from_model)

@pytest.mark.parametrize("weights, sparsity", [("int4", 0.0), ("int8", 0.0), ("int4", 0.5), ("float32", 0.0)])
def test_checkpoint_from_a_model_file_exports_back_to_the_same_file(tmp_path, weights, sparsity):
    tiny_checkpoint(tmp_path / "ckpt.pt")  # a normalized model: the recovered one keeps it folded in
    shipped = load_model(export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", weights, sparsity))
    recovered = checkpoint_from_model(tmp_path / "m.safetensors", tmp_path / "back.pt")
    again = load_model(export_model(recovered, tmp_path / "again.safetensors", weights, sparsity))
    assert again.architecture == shipped.architecture and again.tokens == shipped.tokens
    assert again.tokens.scores == shipped.tokens.scores
    for name, t in shipped.tensors.items():
        u = again.tensors[name]
        if isinstance(t, QuantizedMatrix):
            assert u.format == t.format, name
            np.testing.assert_array_equal(u.to_int8(), t.to_int8(), err_msg=name)
            np.testing.assert_allclose(u.scales, t.scales, rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_allclose(u, t, rtol=1e-6, atol=1e-7, err_msg=name)
    state = torch.load(recovered, weights_only=False)
    assert bool(state.get("compress", {}).get("masks")) == (sparsity > 0)
    assert "m.safetensors" in state["source"]


def test_the_recovered_checkpoint_computes_what_the_runtime_computes(tmp_path):
    """Its weights are the file's dequantized ones, and its quantized forward (int4 weights re-derived from them,
    int8 activations) gives the native runtime's encoder outputs on the shipped file."""
    from edgeasr.recognizer import Recognizer, RecognizerConfig
    from edgeasr.train.qat import Quantizer, qat_encoder

    tiny_checkpoint(tmp_path / "ckpt.pt")
    export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", "int4")
    model, table = load_trained(checkpoint_from_model(tmp_path / "m.safetensors", tmp_path / "back.pt"))
    shipped = load_model(tmp_path / "m.safetensors")
    assert table == shipped.tokens and model.ctc_head is None
    for name, t in shipped.tensors.items():
        expected = t.to_float() if isinstance(t, QuantizedMatrix) else t
        np.testing.assert_array_equal(model.state_dict()[name].numpy(), expected, err_msg=name)
    torch.manual_seed(3)
    feats = torch.randn(1, 30, TINY.num_features) * 3 - 7
    with torch.no_grad():
        enc, _ = qat_encoder(model, feats, torch.tensor([30]), Quantizer(model, 4, None, activations=True))
    network = Recognizer(tmp_path / "m.safetensors", RecognizerConfig(chunk_frames=TINY.stack * 4)).network
    native = network.encode(np.ascontiguousarray(feats[0].numpy()), network.init_state())
    diff = np.abs(native - enc[0].numpy())
    assert diff.max() < 2e-2 and diff.mean() < 5e-3, (diff.max(), diff.mean())


def test_checkpoint_from_model_refuses_what_it_cannot_keep(tmp_path):
    from edgeasr.features import FbankConfig
    from edgeasr.model_file import save_model

    tiny_checkpoint(tmp_path / "ckpt.pt")
    shipped = load_model(export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", "int8"))
    shipped.features = FbankConfig(num_bins=TINY.num_features, frame_shift_ms=20.0)
    save_model(tmp_path / "odd.safetensors", shipped)
    with pytest.raises(ValueError, match="not the defaults"):
        checkpoint_from_model(tmp_path / "odd.safetensors", tmp_path / "x.pt")
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "m.safetensors").read_bytes()[:300])
    with pytest.raises(ValueError):
        checkpoint_from_model(tmp_path / "cut.safetensors", tmp_path / "y.pt")
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "y.pt").exists()


def test_checkpoint_from_model_writes_the_bpe_model_a_fine_tune_needs(tmp_path):
    from edgeasr.train.text import generate_requests
    from edgeasr.train.tokens import Tokenizer, train_bpe

    _, table = train_bpe([r.text for r in generate_requests("train", 400)], 40, model_prefix=tmp_path / "run" / "bpe")
    cfg = ModelConfig(**{**vars(TINY), "vocab_size": 40})
    torch.save({"model": Transducer(cfg).state_dict(), "config": TrainConfig(model=cfg).to_dict(),
                "tokens": list(table.pieces)}, tmp_path / "run" / "ckpt.pt")
    export_model(tmp_path / "run" / "ckpt.pt", tmp_path / "m.safetensors", "int4")
    recovered = checkpoint_from_model(tmp_path / "m.safetensors", tmp_path / "back" / "c.pt")
    rebuilt, original = Tokenizer(recovered.parent / "bpe.model"), Tokenizer(tmp_path / "run" / "bpe.model")
    assert rebuilt.table.pieces == original.table.pieces and rebuilt.table.scores == original.table.scores
    for r in generate_requests("test", 300):  # unseen text encodes as the trained model encodes it
        assert rebuilt.encode(r.text) == original.encode(r.text), r.text
    # Another model's bpe.model in the folder is not overwritten: refused.
    tiny_checkpoint(tmp_path / "other.pt")
    export_model(tmp_path / "other.pt", tmp_path / "other.safetensors", "int8")
    with pytest.raises(ValueError, match="other pieces"):
        checkpoint_from_model(tmp_path / "other.safetensors", tmp_path / "back" / "d.pt")
    assert not (tmp_path / "back" / "d.pt").exists()


def test_cli_checkpoint_from_a_model_file(tmp_path, capsys):
    from edgeasr.recognizer import default_model_path

    tiny_checkpoint(tmp_path / "ckpt.pt")
    export_model(tmp_path / "ckpt.pt", tmp_path / "m.safetensors", "int4")
    out = tmp_path / "recovered" / "c.pt"
    assert cli_main(["checkpoint", str(out), "--model", str(tmp_path / "m.safetensors")]) == 0
    assert capsys.readouterr().out.strip().startswith(f"wrote {out}")
    model, table = load_trained(out)
    assert table == SCORED and (out.parent / "bpe.model").is_file()
    assert cli_main(["checkpoint", str(tmp_path / "x.pt"), "--model", str(tmp_path / "missing.safetensors")]) == 1
    assert "missing.safetensors" in capsys.readouterr().err
    assert cli_main(["checkpoint", str(tmp_path / "bundled" / "b.pt")]) == 0  # default: the bundled model file
    assert load_trained(tmp_path / "bundled" / "b.pt")[1].pieces == load_model(default_model_path()).tokens.pieces
