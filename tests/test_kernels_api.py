"""The public kernels API: argument checking, ISA choice and override."""

import os
import subprocess
import sys

import numpy as np
import pytest

from edgeasr import QuantizedMatrix, kernels


@pytest.fixture
def matrix(rng):
    return QuantizedMatrix.from_float(rng.standard_normal((8, 20)).astype(np.float32))


@pytest.mark.parametrize(
    "w,match",
    [
        (np.zeros((4, 4), np.float64), "w: expected dtype float32"),
        (np.zeros(4, np.float32), "w: expected 2 dimension"),
        (np.zeros((4, 8), np.float32)[:, ::2], "w: array must be C-contiguous"),
        (np.full((2, 2), np.nan, np.float32), "w: contains NaN"),
        (np.zeros((0, 4), np.float32), "w: matrix must not be empty"),
        ([[1.0]], "w: expected a numpy array"),
    ],
)
def test_from_float_rejects_bad_weights(w, match):
    with pytest.raises(ValueError, match=match):
        QuantizedMatrix.from_float(w)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"bits": 3}, "bits: must be 8 or 4"),
        ({"sparsity": 1.5}, "sparsity: must lie in"),
        ({"sparsity": "half"}, "sparsity: expected None"),
        ({"sparsity": np.ones((3, 3), bool)}, "sparsity: mask shape"),
        ({"sparsity": np.ones((4, 4), np.float32)}, "sparsity: mask must be bool or uint8"),
    ],
)
def test_from_float_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QuantizedMatrix.from_float(np.ones((4, 4), np.float32), **kwargs)


@pytest.mark.parametrize("bits", [8, 4])
def test_to_dense_keeps_the_integers_and_scales_and_every_product(rng, bits):
    w = rng.standard_normal((37, 150)).astype(np.float32)
    sparse = QuantizedMatrix.from_float(w, bits=bits, sparsity=0.5)
    dense = sparse.to_dense()
    assert (sparse.format, dense.format) == (f"sparse_q{bits}", f"dense_q{bits}")
    assert np.array_equal(dense.to_int8(), sparse.to_int8()) and np.array_equal(dense.scales, sparse.scales)
    assert dense.nonzeros == sparse.nonzeros
    x = rng.standard_normal(150).astype(np.float32)
    xs = rng.standard_normal((5, 150)).astype(np.float32)
    for isa in kernels.supported_isas():
        assert np.array_equal(dense.matvec(x, isa=isa), sparse.matvec(x, isa=isa))
        assert np.array_equal(dense.matmul(xs, isa=isa), sparse.matmul(xs, isa=isa))
    assert dense.to_dense() is dense


def test_from_int_rejects_bad_input():
    q = np.ones((2, 3), np.int8)
    with pytest.raises(ValueError, match="scales: every scale must be finite"):
        QuantizedMatrix.from_int(q, np.array([1.0, np.nan], np.float32))
    with pytest.raises(ValueError, match="scales: every scale must be finite"):
        QuantizedMatrix.from_int(q, np.array([1.0, 0.0], np.float32))
    with pytest.raises(ValueError, match="scales: need 2 scales"):
        QuantizedMatrix.from_int(q, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="q: expected dtype int8"):
        QuantizedMatrix.from_int(q.astype(np.int16), np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"q: value 8 .* outside \[-7, 7\]"):
        QuantizedMatrix.from_int(q * 8, np.ones(2, np.float32), bits=4)
    with pytest.raises(ValueError, match=r"outside \[-127, 127\]"):
        QuantizedMatrix.from_int(np.full((2, 3), -128, np.int8), np.ones(2, np.float32))


def test_products_reject_bad_activations(matrix):
    with pytest.raises(ValueError, match="x: expected length 20"):
        matrix.matvec(np.ones(21, np.float32))
    with pytest.raises(ValueError, match="x: expected dtype float32"):
        matrix.matvec(np.ones(20, np.float64))
    with pytest.raises(ValueError, match="x: contains NaN"):
        matrix.matvec(np.full(20, np.inf, np.float32))
    with pytest.raises(ValueError, match="x: expected 20 columns"):
        matrix.matmul(np.ones((2, 19), np.float32))
    with pytest.raises(ValueError, match="x: array must be C-contiguous"):
        matrix.matmul(np.ones((20, 2), np.float32).T)
    with pytest.raises(ValueError, match="xq: expected 64"):
        matrix.matmul_int32(np.ones((1, 20), np.int8))
    with pytest.raises(ValueError, match="xq: -128"):
        matrix.matmul_int32(np.full((1, 64), -128, np.int8))
    with pytest.raises(ValueError, match="isa: 'vax' is not available"):
        matrix.matvec(np.ones(20, np.float32), isa="vax")


def test_matmul_with_no_rows_returns_empty(matrix):
    assert matrix.matmul(np.ones((0, 20), np.float32)).shape == (0, 8)


def test_describes_itself(matrix):
    assert matrix.shape == (8, 20)
    assert matrix.format == "dense_q8" and matrix.bits == 8 and not matrix.sparse
    assert "dense_q8" in repr(matrix)


def test_active_isa_is_the_best_supported():
    assert kernels.supported_isas()[0] == "scalar"
    if "EDGEASR_ISA" not in os.environ:
        assert kernels.isa() == kernels.supported_isas()[-1]


def _isa_in_subprocess(value):
    env = dict(os.environ, EDGEASR_ISA=value)
    code = "import numpy as np, edgeasr; m = edgeasr.QuantizedMatrix.from_float(np.ones((2, 2), np.float32));" \
           "m.matvec(np.ones(2, np.float32)); print(edgeasr.kernels.isa())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("isa", kernels.supported_isas())
def test_environment_override_selects_the_kernels(isa):
    result = _isa_in_subprocess(isa)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == isa


def test_environment_override_rejects_unknown_or_unsupported():
    result = _isa_in_subprocess("sse9")
    assert result.returncode != 0 and "unknown instruction set 'sse9'" in result.stderr
    missing = [i for i in ("avx2", "avx512", "neon") if i not in kernels.supported_isas()]
    result = _isa_in_subprocess(missing[0])
    assert result.returncode != 0
    assert f"cannot run {missing[0]}" in result.stderr or f"has no {missing[0]}" in result.stderr
