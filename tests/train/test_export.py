import pytest
import torch

from edgeasr.tokens import TokenTable
from edgeasr.train.config import TrainConfig
from edgeasr.train.export import export_checkpoint, load_exported
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
