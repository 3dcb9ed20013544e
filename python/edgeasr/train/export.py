"""A trained model as one small file for the next stages: weights (float16 by default) in a safetensors
container, with the model configuration and the token table in its metadata. The recognizer's own model file
(kernel formats, quantized) is built from this."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from edgeasr.tokens import TokenTable
from edgeasr.train.model import ModelConfig, Transducer

FORMAT = "edgeasr.train.export"
VERSION = 1


def export_checkpoint(checkpoint: Path, out: Path, dtype: torch.dtype = torch.float16) -> Path:
    """Writes the model of a training checkpoint (no optimizer state) to ``out``."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = ModelConfig(**state["config"]["model"])
    tensors = {k: v.to(dtype).contiguous() for k, v in state["model"].items()}
    progress = state.get("progress", {})
    metadata = {"format": FORMAT, "version": str(VERSION), "config": json.dumps(vars(cfg)),
                "tokens": TokenTable(state["tokens"]).to_json(), "trained_steps": str(progress.get("step", "")),
                "trained_epochs": str(progress.get("epoch", ""))}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    return out


def load_exported(path: Path) -> tuple[Transducer, TokenTable]:
    """The float32 model (eval mode) and token table of an exported file."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT or meta.get("version") != str(VERSION):
        raise ValueError(f"{path}: not an {FORMAT} v{VERSION} file (metadata {sorted(meta)})")
    model = Transducer(ModelConfig(**json.loads(meta["config"])))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    model.eval()
    return model, TokenTable.from_json(meta["tokens"])
