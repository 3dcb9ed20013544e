"""The model file: one safetensors container with everything a recognizer needs, read without torch.

Metadata (all strings):
  format        "edgeasr.model"
  version       "1"
  architecture  JSON: {"type": "lstm_transducer", "num_features", "stack", "d_model", "hidden", "num_layers",
                "decoder_dim", "context_size", "joiner_dim", "vocab_size", "blank_id"}
  features      JSON: the fields of ``edgeasr.features.FbankConfig`` (sample_rate, num_bins, frame_length_ms,
                frame_shift_ms, dither, snip_edges) and "subsampling" (= stack: feature frames per encoder step)
  tokens        the ``TokenTable`` JSON, with piece scores (so inference can encode biasing phrases)
  weights       JSON: {matrix name: {"format": storage, "rows": int, "cols": int}} for every quantizable matrix;
                storage is "float32", "dense_q8", "dense_q4", "sparse_q8" or "sparse_q4"
  source        optional free text: where the weights came from

Tensors, named as the PyTorch model's state_dict (``edgeasr.train.model``, without ``ctc_head.*`` and without the
feature normalization, which export folds into ``encoder.input_proj``):
  a float32 tensor, or a float32 matrix, under its own name (F32, its PyTorch shape);
  a quantized matrix ``<name>`` as ``<name>.scales`` (F32 [rows]), ``<name>.values`` (I8 for *_q8, U8 for *_q4;
  see ``QuantizedMatrix.to_parts``) and, when sparse, ``<name>.masks`` (U64 [rows * ceil(cols / 64)]) and
  ``<name>.row_offsets`` (U32 [rows + 1]).

:func:`load_model` trusts nothing in the file: anything malformed, inconsistent or out of range raises
:class:`ModelFileError` (a ValueError) naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from edgeasr.features import FbankConfig
from edgeasr.kernels import BLOCK_COLS, FORMATS as QUANTIZED_FORMATS, QuantizedMatrix
from edgeasr.tokens import TokenTable

__all__ = ["Architecture", "ModelFile", "ModelFileError", "STORAGE_FORMATS", "load_model", "save_model"]

FORMAT = "edgeasr.model"
VERSION = "1"
ARCHITECTURE_TYPE = "lstm_transducer"
STORAGE_FORMATS = ("float32",) + QUANTIZED_FORMATS
_METADATA_KEYS = {"format", "version", "architecture", "features", "tokens", "weights"}
_OPTIONAL_METADATA_KEYS = {"source"}



class ModelFileError(ValueError):
    """A model file that cannot be used: malformed, inconsistent, or not a model file at all."""


# Upper bounds keep a hostile header from asking for absurd shapes before any data is read.
_ARCH_LIMITS = {"num_features": 1024, "stack": 64, "d_model": 1 << 16, "hidden": 1 << 16, "num_layers": 256,
                "decoder_dim": 1 << 16, "context_size": 64, "joiner_dim": 1 << 16, "vocab_size": 1 << 20}


@dataclass(frozen=True)
class Architecture:
    """The network's sizes: the ``ModelConfig`` of training, minus what only training uses."""

    num_features: int
    stack: int
    d_model: int
    hidden: int
    num_layers: int
    decoder_dim: int
    context_size: int
    joiner_dim: int
    vocab_size: int
    blank_id: int = 0
    type: str = ARCHITECTURE_TYPE

    def validate(self) -> None:
        """Raise ValueError naming the first field out of range."""
        if self.type != ARCHITECTURE_TYPE:
            raise ValueError(f"architecture.type: expected {ARCHITECTURE_TYPE!r}, got {self.type!r}")
        for name, limit in _ARCH_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
                raise ValueError(f"architecture.{name}: expected an int in [1, {limit}], got {value!r}")
        if self.vocab_size < 2:
            raise ValueError(f"architecture.vocab_size: need the blank and a token, got {self.vocab_size}")
        if self.d_model >= self.hidden:
            raise ValueError(f"architecture.d_model: the LSTM projection ({self.d_model}) must be smaller than its "
                             f"cell (hidden = {self.hidden})")
        if isinstance(self.blank_id, bool) or self.blank_id != 0:
            raise ValueError(f"architecture.blank_id: the token table keeps the blank at id 0, got {self.blank_id!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {"type": d.pop("type"), **d}

    @classmethod
    def from_dict(cls, obj: Any) -> "Architecture":
        """Strict: exactly the known keys, ints where ints belong; ValueError otherwise."""
        if not isinstance(obj, dict):
            raise ValueError(f"architecture: expected a JSON object, got {type(obj).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        if set(obj) != known:
            missing, extra = sorted(known - set(obj)), sorted(set(obj) - known)
            raise ValueError(f"architecture: keys differ from the expected ones (missing {missing}, unknown {extra})")
        arch = cls(**obj)
        arch.validate()
        return arch

    @classmethod
    def from_config(cls, cfg: Any) -> "Architecture":
        """From a training ``ModelConfig`` (or anything with its fields)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls) if f.name not in ("type",
                                                                                                      "blank_id")})

    def matrices(self) -> list[str]:
        """Names of the matrices that may be stored quantized: those the runtime multiplies by."""
        names = ["encoder.input_proj.weight"]
        for i in range(self.num_layers):
            names += [f"encoder.layers.{i}.weight_ih_l0", f"encoder.layers.{i}.weight_hh_l0",
                      f"encoder.layers.{i}.weight_hr_l0"]
        return names + ["joiner.enc_proj.weight", "joiner.dec_proj.weight", "joiner.output.weight"]

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of the model by PyTorch name, with its shape."""
        d, h, dd, j, v = self.d_model, self.hidden, self.decoder_dim, self.joiner_dim, self.vocab_size
        shapes: dict[str, tuple[int, ...]] = {
            "encoder.input_proj.weight": (d, self.stack * self.num_features), "encoder.input_proj.bias": (d,),
            "encoder.input_norm.weight": (d,), "encoder.input_norm.bias": (d,),
        }
        for i in range(self.num_layers):
            p = f"encoder.layers.{i}."
            shapes.update({p + "weight_ih_l0": (4 * h, d), p + "weight_hh_l0": (4 * h, d), p + "bias_ih_l0": (4 * h,),
                           p + "bias_hh_l0": (4 * h,), p + "weight_hr_l0": (d, h)})
        shapes.update({
            "decoder.embedding.weight": (v, dd), "decoder.conv.weight": (dd, 1, self.context_size),
            "decoder.conv.bias": (dd,),
            "joiner.enc_proj.weight": (j, d), "joiner.enc_proj.bias": (j,),
            "joiner.dec_proj.weight": (j, dd), "joiner.dec_proj.bias": (j,),
            "joiner.output.weight": (v, j), "joiner.output.bias": (v,),
        })
        return shapes


Tensor = Union[np.ndarray, QuantizedMatrix]


@dataclass(eq=False)  # arrays do not compare to one bool
class ModelFile:
    """The contents of a model file. ``tensors`` maps every name of ``architecture.tensor_shapes()`` to a float32
    array, or, for the names of ``architecture.matrices()``, to a float32 array or a QuantizedMatrix."""

    architecture: Architecture
    features: FbankConfig
    tokens: TokenTable
    tensors: dict[str, Tensor]
    source: str = ""
    path: Optional[Path] = field(default=None, compare=False)

    @property
    def weights_format(self) -> dict[str, str]:
        """Storage format of each quantizable matrix: "float32" or a QuantizedMatrix format."""
        return {name: _storage(self.tensors[name]) for name in self.architecture.matrices()}

    @property
    def subsampling(self) -> int:
        """Feature frames per encoder step."""
        return self.architecture.stack

    @property
    def frame_shift_ms(self) -> float:
        return self.features.frame_shift_ms

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    def describe(self) -> dict:
        """A JSON-ready summary: architecture, features, vocabulary, and per tensor its storage format, shape,
        nonzeros and bytes, with totals (file bytes too when the model came from a file)."""
        rows = []
        for name, t in self.tensors.items():
            quantized = isinstance(t, QuantizedMatrix)
            rows.append({"name": name, "format": _storage(t), "shape": list(t.shape),
                         "parameters": int(np.prod(t.shape)),
                         "nonzeros": int(t.nonzeros if quantized else np.count_nonzero(t)),
                         "bytes": int(t.nbytes)})
        totals = {key: sum(r[key] for r in rows) for key in ("parameters", "nonzeros", "bytes")}
        if self.path is not None:
            totals["file_bytes"] = self.path.stat().st_size
        return {"path": None if self.path is None else str(self.path), "source": self.source,
                "architecture": self.architecture.to_dict(),
                "features": {**dataclasses.asdict(self.features), "subsampling": self.subsampling},
                "vocab_size": len(self.tokens), "tensors": rows, "totals": totals}

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistency (what :func:`save_model` refuses to write)."""
        if not isinstance(self.architecture, Architecture):
            raise ValueError(f"architecture: expected an Architecture, got {type(self.architecture).__name__}")
        self.architecture.validate()
        _check_features(self.features, self.architecture)
        _check_tokens(self.tokens, self.architecture)
        if not isinstance(self.source, str):
            raise ValueError(f"source: expected a string, got {type(self.source).__name__}")
        if not isinstance(self.tensors, dict):
            raise ValueError(f"tensors: expected a dict, got {type(self.tensors).__name__}")
        shapes = self.architecture.tensor_shapes()
        _check_names(set(self.tensors), set(shapes), "tensors")
        matrices = set(self.architecture.matrices())
        for name, shape in shapes.items():
            t = self.tensors[name]
            if isinstance(t, QuantizedMatrix):
                if name not in matrices:
                    raise ValueError(f"tensors[{name!r}]: only the matrices {sorted(matrices)} may be quantized")
                if t.shape != shape:
                    raise ValueError(f"tensors[{name!r}]: shape {t.shape}, expected {shape}")
            elif isinstance(t, np.ndarray):
                if t.dtype != np.float32 or t.shape != shape:
                    raise ValueError(f"tensors[{name!r}]: expected float32 {shape}, got {t.dtype} {t.shape}")
                if not np.isfinite(t).all():
                    raise ValueError(f"tensors[{name!r}]: contains NaN or infinity")
            else:
                raise ValueError(f"tensors[{name!r}]: expected a float32 array or a QuantizedMatrix, got "
                                 f"{type(t).__name__}")


def _storage(t: Tensor) -> str:
    return t.format if isinstance(t, QuantizedMatrix) else "float32"


def _check_names(got: set, want: set, what: str) -> None:
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        raise ValueError(f"{what}: names differ from the architecture's: missing {_some(missing)}, "
                         f"unexpected {_some(extra)}")


def _some(names: list) -> str:
    return f"{names[:8]}{' ...' if len(names) > 8 else ''}"


def _check_features(features: FbankConfig, arch: Architecture) -> None:
    if not isinstance(features, FbankConfig):
        raise ValueError(f"features: expected an FbankConfig, got {type(features).__name__}")
    types = {"sample_rate": int, "num_bins": int, "frame_length_ms": numbers.Real, "frame_shift_ms": numbers.Real,
             "dither": numbers.Real, "snip_edges": bool}
    for name, kind in types.items():
        value = getattr(features, name)
        ok = isinstance(value, bool) if kind is bool else (isinstance(value, kind) and not isinstance(value, bool))
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(f"features.{name}: expected {'a bool' if kind is bool else 'a finite number'}"
                             f"{' (int)' if kind is int else ''}, got {value!r}")
    if not 1000 <= features.sample_rate <= 384000:
        raise ValueError(f"features.sample_rate: expected [1000, 384000] Hz, got {features.sample_rate}")
    if not 1.0 <= features.frame_length_ms <= 1000.0:
        raise ValueError(f"features.frame_length_ms: expected [1, 1000], got {features.frame_length_ms}")
    try:  # the front end's own checks: a window with too few FFT bins for the mel bins, say
        features.validate()
    except ValueError as e:
        raise ValueError(f"features: {e}") from None
    if features.num_bins != arch.num_features:
        raise ValueError(f"features.num_bins ({features.num_bins}) differs from architecture.num_features "
                         f"({arch.num_features})")


def _check_tokens(tokens: TokenTable, arch: Architecture) -> None:
    if not isinstance(tokens, TokenTable):
        raise ValueError(f"tokens: expected a TokenTable, got {type(tokens).__name__}")
    if len(tokens) != arch.vocab_size:
        raise ValueError(f"tokens: {len(tokens)} pieces, but architecture.vocab_size is {arch.vocab_size}")
    if tokens.scores is None:
        raise ValueError("tokens: the table has no piece scores (needed to encode biasing phrases)")


def _features_to_json(features: FbankConfig, arch: Architecture) -> str:
    return json.dumps({**dataclasses.asdict(features), "subsampling": arch.stack})


def _parse_json(text: str, what: str) -> Any:
    def reject(constant: str):
        raise ValueError(f"{constant} is not a finite number")

    try:
        return json.loads(text, parse_constant=reject)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError; RecursionError: hostile nesting
        raise ValueError(f"{what}: not valid JSON ({type(e).__name__}: {e})") from None


def _features_from_json(text: str, arch: Architecture) -> FbankConfig:
    obj = _parse_json(text, "features")
    if not isinstance(obj, dict):
        raise ValueError(f"features: expected a JSON object, got {type(obj).__name__}")
    known = {f.name for f in dataclasses.fields(FbankConfig)} | {"subsampling"}
    if set(obj) != known:
        missing, extra = sorted(known - set(obj)), sorted(set(obj) - known)
        raise ValueError(f"features: keys differ from the expected ones (missing {missing}, unknown {extra})")
    subsampling = obj.pop("subsampling")
    if isinstance(subsampling, bool) or subsampling != arch.stack:
        raise ValueError(f"features.subsampling ({subsampling!r}) differs from architecture.stack ({arch.stack})")
    features = FbankConfig(**obj)
    _check_features(features, arch)
    return features


def _weights_to_json(model: ModelFile) -> str:
    shapes = model.architecture.tensor_shapes()
    return json.dumps({name: {"format": _storage(model.tensors[name]), "rows": shapes[name][0],
                              "cols": shapes[name][1]} for name in model.architecture.matrices()})


def _weights_from_json(text: str, arch: Architecture) -> dict[str, str]:
    obj = _parse_json(text, "weights")
    if not isinstance(obj, dict):
        raise ValueError(f"weights: expected a JSON object, got {type(obj).__name__}")
    _check_names(set(obj), set(arch.matrices()), "weights")
    shapes = arch.tensor_shapes()
    formats = {}
    for name in arch.matrices():
        entry = obj[name]
        if not isinstance(entry, dict) or set(entry) != {"format", "rows", "cols"}:
            raise ValueError(f"weights[{name!r}]: expected an object with format, rows and cols, got {entry!r}")
        if entry["format"] not in STORAGE_FORMATS:
            raise ValueError(f"weights[{name!r}].format: expected one of {list(STORAGE_FORMATS)}, "
                             f"got {entry['format']!r}")
        shape = (entry["rows"], entry["cols"])
        if any(isinstance(v, bool) or not isinstance(v, int) for v in shape) or shape != shapes[name]:
            raise ValueError(f"weights[{name!r}]: rows x cols {shape} differ from the architecture's {shapes[name]}")
        formats[name] = entry["format"]
    return formats


def _stored_tensors(model: ModelFile) -> dict[str, np.ndarray]:
    """The arrays as the file stores them, by stored name."""
    out: dict[str, np.ndarray] = {}
    for name, t in model.tensors.items():
        if isinstance(t, QuantizedMatrix):
            parts = t.to_parts()
            for part in ("scales", "values", "masks", "row_offsets"):
                if part in parts:
                    out[f"{name}.{part}"] = np.ascontiguousarray(parts[part])
        else:
            out[name] = np.ascontiguousarray(t)
    return out


def _expected_stored(arch: Architecture, formats: dict[str, str]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Stored name -> (safetensors dtype, shape, or a 1-D shape of unknown length as (-1,))."""
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, shape in arch.tensor_shapes().items():
        fmt = formats.get(name, "float32")
        if fmt == "float32":
            out[name] = ("F32", shape)
            continue
        rows, cols = shape
        out[f"{name}.scales"] = ("F32", (rows,))
        out[f"{name}.values"] = ("I8" if fmt.endswith("q8") else "U8", (-1,))  # its length: from_parts checks it
        if fmt.startswith("sparse"):
            out[f"{name}.masks"] = ("U64", (rows * (-(-cols // BLOCK_COLS)),))
            out[f"{name}.row_offsets"] = ("U32", (rows + 1,))
    return out


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> Path:
    """Write a safetensors file atomically (a temporary file, then a rename), readable as the umask allows: the
    model file, and other containers read at run time (edgeasr.ngram_lm)."""
    from safetensors.numpy import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # safetensors creates its files owner-only; these are for everyone to read
    os.replace(tmp, path)
    return path


def save_model(path: Union[str, os.PathLike], model: ModelFile) -> Path:
    """Write ``model`` to ``path`` (atomically: a temporary file, then a rename). Raises ValueError, without
    writing, for a model :meth:`ModelFile.validate` rejects."""
    if not isinstance(model, ModelFile):
        raise ValueError(f"model: expected a ModelFile, got {type(model).__name__}")
    model.validate()
    path = Path(path)
    metadata = {
        "format": FORMAT, "version": VERSION,
        "architecture": json.dumps(model.architecture.to_dict()),
        "features": _features_to_json(model.features, model.architecture),
        "tokens": model.tokens.to_json(),
        "weights": _weights_to_json(model),
    }
    if model.source:
        metadata["source"] = model.source
    return write_safetensors(path, _stored_tensors(model), metadata)


def load_model(path: Union[str, os.PathLike]) -> ModelFile:
    """Read and check a model file. Any problem raises :class:`ModelFileError` naming the file."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a file path, got {type(path).__name__}")
    path = Path(path)
    try:
        return _load(path)
    except ModelFileError:
        raise
    except ValueError as e:
        raise ModelFileError(f"{path}: {e}") from None


def _load(path: Path) -> ModelFile:
    from safetensors import safe_open

    if not path.is_file():
        raise ValueError("no such file")
    # The safetensors parser is the boundary with untrusted bytes: whatever it raises (SafetensorError on a bad
    # header or truncated data, OSError, ...) means the file is unusable.
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            names = set(f.keys())
            model = _parse_metadata(metadata)
            formats = _weights_from_json(metadata["weights"], model.architecture)
            expected = _expected_stored(model.architecture, formats)
            _check_names(names, set(expected), "tensors")
            for name, (dtype, shape) in expected.items():
                piece = f.get_slice(name)
                got_dtype, got_shape = piece.get_dtype(), tuple(piece.get_shape())
                if got_dtype != dtype or (got_shape != shape if shape != (-1,) else len(got_shape) != 1):
                    want = f"{dtype} {list(shape) if shape != (-1,) else '[n]'}"
                    raise ValueError(f"tensor {name!r}: expected {want}, got {got_dtype} {list(got_shape)}")
            arrays = {name: f.get_tensor(name) for name in expected}
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - see above
        raise ValueError(f"not a readable safetensors file ({type(e).__name__}: {e})") from None
    model.tensors = _build_tensors(model.architecture, formats, arrays)
    model.path = path
    return model


def _parse_metadata(metadata: dict) -> ModelFile:
    if metadata.get("format") != FORMAT:
        raise ValueError(f"not an {FORMAT} file (metadata format {metadata.get('format')!r})")
    if metadata.get("version") != VERSION:
        raise ValueError(f"{FORMAT} version {metadata.get('version')!r} is not supported (this reader: {VERSION})")
    missing = sorted(_METADATA_KEYS - set(metadata))
    unknown = sorted(set(metadata) - _METADATA_KEYS - _OPTIONAL_METADATA_KEYS)
    if missing or unknown:
        raise ValueError(f"metadata: missing {missing}, unknown {unknown}")
    arch = Architecture.from_dict(_parse_json(metadata["architecture"], "architecture"))
    features = _features_from_json(metadata["features"], arch)
    try:
        tokens = TokenTable.from_json(metadata["tokens"])
    except ValueError as e:
        raise ValueError(f"tokens: {e}") from None
    _check_tokens(tokens, arch)
    return ModelFile(arch, features, tokens, tensors={}, source=metadata.get("source", ""))


def _build_tensors(arch: Architecture, formats: dict[str, str], arrays: dict[str, np.ndarray]) -> dict[str, Tensor]:
    tensors: dict[str, Tensor] = {}
    for name, shape in arch.tensor_shapes().items():
        fmt = formats.get(name, "float32")
        if fmt == "float32":
            t = np.ascontiguousarray(arrays[name], dtype=np.float32)
            if not np.isfinite(t).all():
                raise ValueError(f"tensor {name!r}: contains NaN or infinity")
            t.flags.writeable = False  # a loaded model is shared and immutable
            tensors[name] = t
            continue
        parts = {part: np.ascontiguousarray(arrays[f"{name}.{part}"])
                 for part in ("scales", "values", "masks", "row_offsets") if f"{name}.{part}" in arrays}
        try:
            tensors[name] = QuantizedMatrix.from_parts(fmt, shape[0], shape[1], **parts)
        except ValueError as e:
            raise ValueError(f"tensor {name!r} ({fmt}): {e}") from None
    return tensors
