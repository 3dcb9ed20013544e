"""Trained models out of training.

Two exports, and the way back:
  ``export_checkpoint``  the model as one small file for the next stages: weights (float16 by default) in a
                         safetensors container, with the model configuration and the token table in its metadata.
  ``export_model``       the recognizer's model file (``edgeasr.model_file``): kernel formats (int8 or int4, dense
                         or sparse, or float32), the feature normalization folded into the input projection, the
                         training-only CTC head dropped, and the token table with its BPE piece scores.
  ``checkpoint_from_model``  a training checkpoint holding a model file's weights as the runtime multiplies by them
                         (quantized matrices dequantized, the normalization left folded in): what PyTorch, the
                         ONNX export and fine-tuning start from when only the shipped file is at hand.
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from edgeasr.features import FbankConfig
from edgeasr.kernels import QuantizedMatrix
from edgeasr.model_file import Architecture, ModelFile, load_model, save_model
from edgeasr.tokens import TokenTable
from edgeasr.train.config import TrainConfig
from edgeasr.train.model import ModelConfig, Transducer
from edgeasr.train.tokens import Tokenizer, bpe_model_from_table

__all__ = ["export_checkpoint", "load_exported", "load_trained", "folded_input_proj", "export_model",
           "quantized_matrix_names", "checkpoint_masks", "checkpoint_from_model"]

FORMAT = "edgeasr.train.export"
VERSION = 1


def export_checkpoint(checkpoint: Path, out: Path, dtype: torch.dtype = torch.float16) -> Path:
    """Writes the model of a training checkpoint (no optimizer state) to ``out``."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = ModelConfig(**state["config"]["model"])
    tensors = {k: v.to(dtype).contiguous() for k, v in state["model"].items()}
    progress = state.get("progress", {})
    metadata = {"format": FORMAT, "version": str(VERSION), "config": json.dumps(vars(cfg)),
                "tokens": _with_scores_if_beside(_checkpoint_table(state["tokens"]), checkpoint).to_json(),
                "trained_steps": str(progress.get("step", "")),
                "trained_epochs": str(progress.get("epoch", ""))}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    return out


def load_exported(path: Path) -> tuple[Transducer, TokenTable]:
    """The float32 model (eval mode) and token table of an exported file."""
    if Path(path).is_file() and not _is_safetensors(Path(path)):
        raise ValueError(f"{path}: not an {FORMAT} v{VERSION} file (not a safetensors file)")
    return load_trained(path)


# ---- the recognizer's model file

WEIGHTS = ("int8", "int4", "float32")


def load_trained(path: Union[str, os.PathLike]) -> tuple[Transducer, TokenTable]:
    """The float32 model (eval mode) and token table of a training checkpoint or of an ``export_checkpoint`` file.

    Checkpoints from before the encoder had its normalization buffers were trained on raw features: they load with
    the identity normalization. A checkpoint's "tokens" may be a list of pieces or a TokenTable JSON.
    """
    model, table, _ = _load(Path(path))
    return model, table


def _load(path: Path) -> tuple[Transducer, TokenTable, dict[str, torch.Tensor]]:
    """``load_trained`` plus the checkpoint's pruning masks (``checkpoint_masks``), from one read of the file."""
    if not path.is_file():
        raise ValueError(f"path: {str(path)!r} is not a file")
    if _is_safetensors(path):
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT or meta.get("version") != str(VERSION):
            raise ValueError(f"{path}: not an {FORMAT} v{VERSION} file (metadata {sorted(meta)})")
        cfg = ModelConfig(**json.loads(meta["config"]))
        weights = {k: v.float() for k, v in load_file(str(path)).items()}
        table = TokenTable.from_json(meta["tokens"])
        masks = {}
    else:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or not {"model", "config", "tokens"} <= state.keys():
            raise ValueError(f"{path}: not a training checkpoint (a dict with model, config and tokens)")
        cfg = ModelConfig(**state["config"]["model"])
        weights = {k: v.float() for k, v in state["model"].items()}
        table = _checkpoint_table(state["tokens"])
        masks = _masks_from_state(state)
    model = Transducer(cfg)
    for name, value in (("encoder.feature_mean", 0.0), ("encoder.feature_std", 1.0)):
        weights.setdefault(name, torch.full((cfg.num_features,), value))
    model.load_state_dict(weights)
    return model.eval(), table, masks


def _checkpoint_table(tokens) -> TokenTable:
    """A checkpoint's "tokens": a list of pieces (train.py) or a TokenTable JSON."""
    return TokenTable.from_json(tokens) if isinstance(tokens, (str, bytes)) else TokenTable(tokens)


def _with_scores_if_beside(table: TokenTable, checkpoint: Path) -> TokenTable:
    """``table`` with the scores of the run's bpe.model beside ``checkpoint``, when it lacks them and one is there."""
    if table.scores is None and (Path(checkpoint).parent / "bpe.model").is_file():
        return _scored_tokens(table, Path(checkpoint), None)
    return table


def _is_safetensors(path: Path) -> bool:
    """A safetensors file starts with its header's length and then the JSON header; a torch checkpoint is a zip."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def folded_input_proj(model: Transducer, grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """input_proj with the feature normalization folded in, in float64 (differentiable with ``grad``, for
    quantization-aware training, which quantizes the matrix export writes).

    The encoder computes W ((x - m) / s) + b over the stacked input, frame-major (stack frames of num_features
    bins each, so m and s repeat once per frame): that is (W / s) x + (b - (W / s) m)."""
    enc = model.encoder
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        mean, std = stacked_normalization(model)
        weight = enc.input_proj.weight.double() / std
        return weight, enc.input_proj.bias.double() - weight @ mean


def stacked_normalization(model: Transducer) -> tuple[torch.Tensor, torch.Tensor]:
    """The feature mean and std over the stacked input (once per stacked frame), float64: the folded input
    projection is input_proj.weight / std per column."""
    enc = model.encoder
    return enc.feature_mean.double().repeat(enc.stack), enc.feature_std.double().repeat(enc.stack)


def quantized_matrix_names(cfg: ModelConfig) -> list[str]:
    """The matrices ``export_model`` stores in kernel formats (those the runtime multiplies by)."""
    return Architecture.from_config(cfg).matrices()


def checkpoint_masks(path: Union[str, os.PathLike]) -> dict[str, torch.Tensor]:
    """The keep-masks (bool, by model-file matrix name) a sparsifying training run saved in its checkpoint;
    empty for other checkpoints and for ``export_checkpoint`` files."""
    path = Path(path)
    if not path.is_file() or _is_safetensors(path):
        return {}
    state = torch.load(path, map_location="cpu", weights_only=False)
    return _masks_from_state(state) if isinstance(state, dict) else {}


def _masks_from_state(state: dict) -> dict[str, torch.Tensor]:
    masks = (state.get("compress") or {}).get("masks") or {}
    return {name: m.bool() for name, m in masks.items()}


def _scored_tokens(table: TokenTable, source: Path, bpe_model: Optional[Path]) -> TokenTable:
    """``table`` with BPE scores: its own, or those of ``bpe_model``, or of the bpe.model beside ``source``."""
    if bpe_model is None and table.scores is not None:
        return table
    candidate = Path(bpe_model) if bpe_model is not None else source.parent / "bpe.model"
    if not candidate.is_file():
        raise ValueError(f"bpe_model: {source} carries no BPE piece scores and {str(candidate)!r} is not a file; "
                         "pass the run's sentencepiece model (bpe.model in the run directory)")
    scored = Tokenizer(candidate).table
    if scored.pieces != table.pieces:
        raise ValueError(f"bpe_model: the pieces of {candidate} differ from the model's token table")
    return scored


def _keep(mask: Optional[torch.Tensor], sparsity: float, name: str):
    """What ``QuantizedMatrix.from_float`` takes as ``sparsity``: the training run's keep-mask when it has one (so
    the file's zeros are exactly the mask's), else the fraction to drop by magnitude (None: dense)."""
    if mask is None:
        return sparsity if sparsity > 0 else None
    dropped = 1.0 - float(mask.float().mean())
    if abs(dropped - sparsity) > 0.01:
        raise ValueError(f"sparsity: the checkpoint's mask of {name} drops {dropped:.3f} of its weights, not the "
                         f"{sparsity:g} asked for; export with sparsity={dropped:.2f}")
    return mask.numpy().astype(np.uint8)


def export_model(checkpoint_or_exported_path: Union[str, os.PathLike], out: Union[str, os.PathLike],
                 weights: str = "int8", sparsity: float = 0.0, *, bpe_model: Optional[Union[str, os.PathLike]] = None,
                 features: Optional[FbankConfig] = None) -> Path:
    """Write the recognizer's model file for a training checkpoint or an ``export_checkpoint`` file.

    ``weights``: storage of the matrices the runtime multiplies by ("int8", "int4" or "float32"; the rest stays
    float32). ``sparsity`` in [0, 1): the fraction of each matrix's smallest-magnitude weights dropped; above 0 the
    matrices are stored sparse (int8 or int4 only), and a checkpoint of a sparsifying run (``[compress]
    sparsity``) keeps exactly the zeros of its saved masks. ``bpe_model``: where the token table's piece scores
    come from when the checkpoint has none (default: bpe.model beside the checkpoint). ``features``: the fbank
    settings the model was trained on (default: ``FbankConfig`` with the model's number of bins).
    """
    if weights not in WEIGHTS:
        raise ValueError(f"weights: expected one of {list(WEIGHTS)}, got {weights!r}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity: expected a number in [0, 1), got {sparsity!r}")
    if sparsity > 0 and weights == "float32":
        raise ValueError("sparsity: float32 weights have no sparse storage; choose weights='int8' or 'int4'")
    source = Path(checkpoint_or_exported_path)
    model, table, masks = _load(source)  # one read of the checkpoint for the weights and the masks
    table = _scored_tokens(table, source, None if bpe_model is None else Path(bpe_model))
    arch = Architecture.from_config(model.cfg)
    if features is None:
        features = FbankConfig(num_bins=model.cfg.num_features)

    state = {k: v.detach() for k, v in model.state_dict().items()
             if not k.startswith("ctc_head.") and k not in ("encoder.feature_mean", "encoder.feature_std")}
    weight, bias = folded_input_proj(model)
    state["encoder.input_proj.weight"], state["encoder.input_proj.bias"] = weight, bias
    tensors: dict = {name: t.to(torch.float32).contiguous().numpy() for name, t in state.items()}
    if weights != "float32":
        bits = 8 if weights == "int8" else 4
        for name in quantized_matrix_names(model.cfg):
            mask = masks.get(name) if sparsity > 0 else None  # dense export ignores a sparsifying run's masks
            tensors[name] = QuantizedMatrix.from_float(tensors[name], bits=bits,
                                                       sparsity=_keep(mask, float(sparsity), name))
    label = f"{source.name}, weights {weights}" + (f", sparsity {float(sparsity):g}" if sparsity > 0 else "")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_model(out, ModelFile(arch, features, table, tensors, source=label))


def checkpoint_from_model(model_path: Union[str, os.PathLike], out: Union[str, os.PathLike]) -> Path:
    """Write a training checkpoint (``torch.save``: model, config, tokens, progress) whose float32 weights are those a
    model file's runtime multiplies by: every quantized matrix dequantized (scale x integer level), the float
    tensors as stored, the feature normalization left folded into the input projection (identity mean and std).

    A quantization-aware run's forward pass uses exactly these weights, so the checkpoint computes what the shipped
    model computes, up to the int8 rounding of activations; exporting it again with the model file's bits and
    sparsity reproduces the file's integer weights and scales. A sparse file's zeros become the checkpoint's
    pruning masks. What the file does not hold is lost: the float master weights, the optimizer, the CTC head.
    Model files with feature settings other than the defaults for their number of bins are refused (a checkpoint
    carries none; export would write the defaults).

    A ``bpe.model`` is written beside ``out`` (``edgeasr.train.tokens.bpe_model_from_table``) unless one is there
    already, so that a training run can start from the checkpoint (``[compress] init_from``) and tokenize as the
    model file does; one already there with other pieces is an error.
    """
    model_file = load_model(model_path)
    arch = model_file.architecture
    if model_file.features != FbankConfig(num_bins=arch.num_features):
        raise ValueError(f"{model_path}: features {model_file.features} are not the defaults; a checkpoint keeps "
                         "no feature settings")
    cfg = ModelConfig(**{name: getattr(arch, name) for name in ("num_features", "stack", "d_model", "hidden",
                                                                 "num_layers", "decoder_dim", "context_size",
                                                                 "joiner_dim", "vocab_size")}, ctc_weight=0.0)
    state, masks = {}, {}
    for name, t in model_file.tensors.items():
        if isinstance(t, QuantizedMatrix):
            state[name] = torch.from_numpy(np.ascontiguousarray(t.to_float()))
            if t.sparse:
                masks[name] = torch.from_numpy(t.to_int8() != 0)
        else:
            state[name] = torch.from_numpy(np.array(t, dtype=np.float32))
    state["encoder.feature_mean"] = torch.zeros(arch.num_features)
    state["encoder.feature_std"] = torch.ones(arch.num_features)
    Transducer(cfg).load_state_dict(state)  # the names and shapes a model of this config has, or a clear error
    out = Path(out)
    bpe = out.parent / "bpe.model"
    if bpe.exists() and Tokenizer(bpe).table.pieces != model_file.tokens.pieces:
        raise ValueError(f"out: {bpe} holds other pieces than {model_path}'s token table; write the checkpoint "
                         "into another folder")
    checkpoint = {"model": state, "config": TrainConfig(model=cfg).to_dict(), "tokens": model_file.tokens.to_json(),
                  "progress": {"step": None, "epoch": None},
                  "source": f"model file {Path(model_path).name} ({model_file.source})"}
    if masks:
        checkpoint["compress"] = {"masks": masks}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    if not bpe.exists():
        bpe_model_from_table(model_file.tokens, bpe)
    return out
