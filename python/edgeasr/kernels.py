"""Quantized and sparse weight matrices, and the native kernels that multiply by them.

Weights are stored per output row with one float scale, symmetric: int8 in [-127, 127] or int4 in [-7, 7]. Sparse
matrices keep a bitmap of nonzeros (one bit per weight) and only the nonzero values; their kernels skip the zeros.
Activations are quantized to int8 per row at call time; products accumulate in int32 and come back as float32.

The kernel set (scalar, avx2, avx512, neon) is chosen once per process from the CPU's features; set the environment
variable ``EDGEASR_ISA`` before importing to force one (an unsupported name raises when first used).
"""

from __future__ import annotations

import numbers
import operator
from typing import Optional, Union

import numpy as np

from edgeasr import _core

__all__ = ["QuantizedMatrix", "isa", "supported_isas", "quantize_activations", "BLOCK_COLS", "MAX_GEMM_ROWS",
           "FORMATS"]

BLOCK_COLS: int = _core.BLOCK_COLS
MAX_GEMM_ROWS: int = _core.MAX_GEMM_ROWS

Sparsity = Union[None, float, np.ndarray]

FORMATS = ("dense_q8", "dense_q4", "sparse_q8", "sparse_q4")


def isa() -> str:
    """Name of the kernel set in use: 'scalar', 'avx2', 'avx512' or 'neon'."""
    return _core.active_isa()


_SUPPORTED_ISAS = tuple(_core.supported_isas())


def supported_isas() -> list[str]:
    """Kernel sets this build has and this CPU runs, slowest first."""
    return list(_SUPPORTED_ISAS)


def _check_array(value, name: str, dtype, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(value).__name__}")
    if value.dtype != np.dtype(dtype):
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype)}, got {value.dtype}")
    if value.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), got shape {value.shape}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name}: array must be C-contiguous (use np.ascontiguousarray)")
    return value


def _check_finite(value: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name}: contains NaN or infinity")


def _check_isa(name: Optional[str]) -> Optional[str]:
    if name is not None and name not in _SUPPORTED_ISAS:
        raise ValueError(f"isa: {name!r} is not available here; supported: {list(_SUPPORTED_ISAS)}")
    return name


def quantize_activations(x: np.ndarray, padded_cols: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Quantize each row of float32 ``x`` [m, cols] to int8 in [-127, 127]; returns (xq [m, padded], scales [m])."""
    x = _check_array(x, "x", np.float32, 2)
    cols = x.shape[1]
    padded = -(-cols // BLOCK_COLS) * BLOCK_COLS if padded_cols is None else int(padded_cols)
    return _core.quantize_activations(x, padded)


class QuantizedMatrix:
    """A weight matrix W [rows, cols] in a compressed kernel format; ``y = W x`` via :meth:`matvec`."""

    def __init__(self, native: "_core.QuantizedMatrix"):
        self._m = native

    @property
    def native(self) -> "_core.QuantizedMatrix":
        """The extension's object, for native code that takes it (``_core.TransducerModel``)."""
        return self._m

    # --- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_float(cls, w: np.ndarray, bits: int = 8, sparsity: Sparsity = None) -> "QuantizedMatrix":
        """Quantize float32 ``w`` [rows, cols] per row to ``bits`` (8 or 4).

        ``sparsity``: None stores a dense matrix; a float in [0, 1] drops that fraction of the smallest-magnitude
        weights (over the whole matrix) and stores the rest sparsely; a boolean or uint8 array of w's shape is a
        keep-mask (nonzero = keep) and also selects the sparse format.
        """
        w = _check_array(w, "w", np.float32, 2)
        _check_finite(w, "w")
        if w.shape[0] == 0 or w.shape[1] == 0:
            raise ValueError(f"w: matrix must not be empty, got shape {w.shape}")
        fmt = _format_name(bits, sparse=sparsity is not None)
        keep = None
        if isinstance(sparsity, np.ndarray):
            if sparsity.shape != w.shape:
                raise ValueError(f"sparsity: mask shape {sparsity.shape} differs from w's {w.shape}")
            if sparsity.dtype not in (np.bool_, np.uint8):
                raise ValueError(f"sparsity: mask must be bool or uint8, got {sparsity.dtype}")
            keep = np.ascontiguousarray(sparsity, dtype=np.uint8)
        elif sparsity is not None:
            if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
                raise ValueError(f"sparsity: expected None, a float in [0, 1] or a mask, got {sparsity!r}")
            if not 0.0 <= float(sparsity) <= 1.0:
                raise ValueError(f"sparsity: must lie in [0, 1], got {sparsity}")
            keep = _core.magnitude_keep_mask(w, float(sparsity))
        return cls(_core.QuantizedMatrix.from_float(fmt, w, keep))

    @classmethod
    def from_int(cls, q: np.ndarray, scales: np.ndarray, bits: int = 8, sparse: bool = False) -> "QuantizedMatrix":
        """Store integer weights ``q`` (int8 array [rows, cols], within [-127, 127] or [-7, 7]) with float32
        per-row ``scales``, as they come from quantization-aware training. Sparse storage keeps exactly the
        nonzeros of q."""
        q = _check_array(q, "q", np.int8, 2)
        scales = _check_array(scales, "scales", np.float32, 1)
        if q.shape[0] == 0 or q.shape[1] == 0:
            raise ValueError(f"q: matrix must not be empty, got shape {q.shape}")
        if scales.shape[0] != q.shape[0]:
            raise ValueError(f"scales: need {q.shape[0]} scales (one per row), got {scales.shape[0]}")
        if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
            raise ValueError("scales: every scale must be finite and > 0 (found NaN, infinity or <= 0)")
        return cls(_core.QuantizedMatrix.from_int(_format_name(bits, sparse), q, scales))

    @classmethod
    def from_parts(cls, format: str, rows: int, cols: int, scales: np.ndarray, values: np.ndarray,
                   masks: Optional[np.ndarray] = None, row_offsets: Optional[np.ndarray] = None) -> "QuantizedMatrix":
        """Rebuild a matrix from the parts :meth:`to_parts` returns, e.g. read from a model file.

        The parts are not trusted: anything inconsistent (counts, ranges, a mask bit past ``cols``, row offsets that
        disagree with the masks, non-finite or non-positive scales) raises ValueError naming the part. Dtypes must be
        exactly those of :meth:`to_parts`; sparse formats need ``masks`` and ``row_offsets``, dense ones take neither.
        """
        if not isinstance(format, str) or format not in FORMATS:
            raise ValueError(f"format: expected one of {list(FORMATS)}, got {format!r}")
        rows, cols = _check_dim(rows, "rows"), _check_dim(cols, "cols")
        scales = _check_array(scales, "scales", np.float32, 1)
        values = _check_array(values, "values", np.int8 if format.endswith("q8") else np.uint8, 1)
        sparse = format.startswith("sparse")
        if sparse:
            if masks is None or row_offsets is None:
                raise ValueError(f"masks: the sparse format {format} needs masks and row_offsets")
            masks = _check_array(masks, "masks", np.uint64, 1)
            row_offsets = _check_array(row_offsets, "row_offsets", np.uint32, 1)
        else:
            if masks is not None or row_offsets is not None:
                raise ValueError(f"masks: the dense format {format} takes no masks or row_offsets")
            masks, row_offsets = _NO_MASKS, _NO_OFFSETS
        return cls(_core.QuantizedMatrix.from_parts(format, rows, cols, scales, values.view(np.uint8), masks,
                                                    row_offsets))

    def to_parts(self) -> dict:
        """The stored form: ``format``, ``rows``, ``cols``, ``scales`` (float32 [rows]) and ``values``: int8 for
        the q8 formats, uint8 (packed nibbles, each weight + 8) for q4; dense: the blocks, rows * padded_cols
        weights; sparse: the nonzeros, packed per row and block. Sparse formats add ``masks`` (uint64, one per
        row and 64-column block, bit i = column 64 b + i is nonzero) and ``row_offsets`` (uint32 [rows + 1],
        byte offset of each row's values). Arrays are copies."""
        parts = self._m.to_parts()
        out = {"format": self.format, "rows": self.shape[0], "cols": self.shape[1], "scales": parts["scales"],
               "values": parts["values"].view(np.int8) if self.bits == 8 else parts["values"]}
        if self.sparse:
            out["masks"] = parts["masks"]
            out["row_offsets"] = parts["row_offsets"]
        return out

    # --- description --------------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (self._m.rows, self._m.cols)

    @property
    def format(self) -> str:
        """'dense_q8', 'dense_q4', 'sparse_q8' or 'sparse_q4'."""
        return self._m.format

    @property
    def bits(self) -> int:
        return 4 if self._m.format.endswith("q4") else 8

    @property
    def sparse(self) -> bool:
        return self._m.format.startswith("sparse")

    @property
    def nbytes(self) -> int:
        """Bytes of storage: values, bitmaps and row offsets (sparse), and the float32 scales."""
        return self._m.nbytes

    @property
    def nonzeros(self) -> int:
        return self._m.nonzeros

    @property
    def density(self) -> float:
        """Fraction of weights that are not zero."""
        rows, cols = self.shape
        return self._m.nonzeros / (rows * cols)

    @property
    def scales(self) -> np.ndarray:
        return self._m.scales

    def __repr__(self) -> str:
        return (f"QuantizedMatrix(shape={self.shape}, format={self.format!r}, density={self.density:.3f}, "
                f"nbytes={self.nbytes})")

    # --- decoding -----------------------------------------------------------------------------------------------
    def to_int8(self) -> np.ndarray:
        """The integer weights [rows, cols], zeros reconstituted."""
        return self._m.decode_int8()

    def to_float(self) -> np.ndarray:
        """The dequantized weights [rows, cols] as float32."""
        return self._m.decode_float()

    def to_dense(self) -> "QuantizedMatrix":
        """The same integer weights and scales in the dense format of the same bits (itself when already dense):
        every product gives exactly the same result, with the dense kernels."""
        if not self.sparse:
            return self
        return QuantizedMatrix.from_int(self.to_int8(), self.scales, bits=self.bits, sparse=False)

    # --- products -----------------------------------------------------------------------------------------------
    # Activations are checked for NaN and infinity natively, while they are quantized: no extra pass here.
    def matvec(self, x: np.ndarray, isa: Optional[str] = None) -> np.ndarray:
        """``W x`` for float32 ``x`` [cols]; returns float32 [rows]."""
        x = _check_array(x, "x", np.float32, 1)
        if x.shape[0] != self.shape[1]:
            raise ValueError(f"x: expected length {self.shape[1]}, got {x.shape[0]}")
        return self._m.matmul(x.reshape(1, -1), _check_isa(isa))[0]

    def matmul(self, x: np.ndarray, isa: Optional[str] = None) -> np.ndarray:
        """``X Wᵀ`` for float32 ``X`` [m, cols] (m rows: frames or hypotheses); returns float32 [m, rows]."""
        x = _check_array(x, "x", np.float32, 2)
        if x.shape[1] != self.shape[1]:
            raise ValueError(f"x: expected {self.shape[1]} columns, got {x.shape[1]}")
        return self._m.matmul(x, _check_isa(isa))

    def matmul_int32(self, xq: np.ndarray, isa: Optional[str] = None) -> np.ndarray:
        """Exact int32 products of already-quantized int8 activations ``xq`` [m, padded_cols] in [-127, 127]."""
        xq = _check_array(xq, "xq", np.int8, 2)
        if xq.shape[1] != self._m.padded_cols:
            raise ValueError(f"xq: expected {self._m.padded_cols} (padded) columns, got {xq.shape[1]}")
        if xq.size and xq.min() < -127:
            raise ValueError("xq: -128 is outside the activation range [-127, 127]")
        return self._m.matmul_int32(xq, _check_isa(isa))


_NO_MASKS = np.zeros(0, dtype=np.uint64)
_NO_OFFSETS = np.zeros(0, dtype=np.uint32)


def _check_dim(value, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}: expected a positive int, got {type(value).__name__}") from None
    if not 1 <= n <= _core.MAX_PARTS_DIM:
        raise ValueError(f"{name}: must lie in [1, {_core.MAX_PARTS_DIM}], got {n}")
    return n


def _format_name(bits: int, sparse: bool) -> str:
    if bits not in (8, 4) or isinstance(bits, bool):
        raise ValueError(f"bits: must be 8 or 4, got {bits!r}")
    return f"{'sparse' if sparse else 'dense'}_q{bits}"
