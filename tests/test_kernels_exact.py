"""Every kernel, under every ISA this machine runs, against a naive int64 loop: exact equality."""

import itertools

import numpy as np
import pytest

from conftest import ISAS, random_int_weights
from edgeasr import QuantizedMatrix, kernels

# K below, equal to and above the 64-column block, odd row counts, one-row and one-column matrices.
SHAPES = [(1, 1), (3, 5), (7, 63), (17, 64), (33, 65), (5, 127), (9, 128), (4, 200), (6, 320)]
DENSITIES = [0.0, 0.05, 0.5, 1.0]
FORMATS = [(8, False), (4, False), (8, True), (4, True)]
M_VALUES = [1, 2, 3, 4, 5, 8, 16, 31, 32]


def naive(q, xq):
    cols = q.shape[1]
    out = np.zeros((xq.shape[0], q.shape[0]), dtype=np.int64)
    for i in range(xq.shape[0]):
        for r in range(q.shape[0]):
            out[i, r] = int(np.dot(xq[i, :cols].astype(np.int64), q[r].astype(np.int64)))
    return out


def activations(rng, m, padded, extreme):
    if extreme:  # every product at its largest: overflow paths are exercised
        return np.full((m, padded), 127 if extreme > 0 else -127, dtype=np.int8)
    return rng.integers(-127, 128, size=(m, padded)).astype(np.int8)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("bits,sparse", FORMATS, ids=["dense_q8", "dense_q4", "sparse_q8", "sparse_q4"])
@pytest.mark.parametrize("density", DENSITIES)
def test_kernel_matches_naive_loop(isa, bits, sparse, density, rng):
    for rows, cols in SHAPES:
        q = random_int_weights(rng, rows, cols, bits, density)
        if rows > 2:
            q[rows // 2] = 0  # an empty row inside the matrix
        qmax = 127 if bits == 8 else 7
        if rows > 3 and density > 0:
            q[1] = qmax  # a row of extreme weights
            q[2] = -qmax
        m = QuantizedMatrix.from_int(q, np.ones(rows, np.float32), bits=bits, sparse=sparse)
        padded = m._m.padded_cols
        for mm, extreme in itertools.product(M_VALUES, (0, 1, -1)):
            if extreme and mm not in (1, 5):
                continue
            xq = activations(rng, mm, padded, extreme)
            expected = naive(q, xq)
            got = m.matmul_int32(xq, isa=isa)
            assert got.dtype == np.int32
            np.testing.assert_array_equal(got, expected, err_msg=f"{isa} {m.format} shape={q.shape} m={mm}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("bits,sparse", FORMATS, ids=["dense_q8", "dense_q4", "sparse_q8", "sparse_q4"])
def test_many_rows_take_every_row_grouping(isa, bits, sparse, rng):
    """Row counts that exercise every grouping a kernel uses (AMX: 64, 32 and 16 rows, then a remainder), with
    activation row counts below, at and above a 16-row tile."""
    for rows, cols in [(64, 64), (113, 130), (150, 320)]:
        q = random_int_weights(rng, rows, cols, bits, 0.5)
        m = QuantizedMatrix.from_int(q, np.ones(rows, np.float32), bits=bits, sparse=sparse)
        for mm in (1, 7, 16, 17, 32):
            xq = activations(rng, mm, m._m.padded_cols, 0)
            np.testing.assert_array_equal(m.matmul_int32(xq, isa=isa), naive(q, xq))


@pytest.mark.parametrize("isa", ISAS)
def test_gemm_beyond_one_chunk(isa, rng):
    """More activation rows than one GEMM call takes: the chunks must line up."""
    q = random_int_weights(rng, 19, 150, 8, 0.5)
    for sparse in (False, True):
        m = QuantizedMatrix.from_int(q, np.ones(19, np.float32), bits=8, sparse=sparse)
        xq = activations(rng, kernels.MAX_GEMM_ROWS * 2 + 3, m._m.padded_cols, 0)
        np.testing.assert_array_equal(m.matmul_int32(xq, isa=isa), naive(q, xq))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("bits,sparsity", [(8, None), (4, None), (8, 0.5), (4, 0.5), (4, 0.7)])
def test_float_products_scale_the_exact_integers(isa, bits, sparsity, rng):
    w = rng.standard_normal((37, 300)).astype(np.float32)
    x = rng.standard_normal((6, 300)).astype(np.float32)
    m = QuantizedMatrix.from_float(w, bits=bits, sparsity=sparsity)
    xq, xs = kernels.quantize_activations(x)
    exact = naive(m.to_int8(), xq).astype(np.float64) * xs[:, None] * m.scales[None, :]
    np.testing.assert_allclose(m.matmul(x, isa=isa), exact, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.matvec(x[0], isa=isa), exact[0], rtol=1e-5, atol=1e-5)
