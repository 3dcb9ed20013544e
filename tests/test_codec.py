"""Encoders and decoders: exact integer round trips, quantization error bounds, storage sizes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import random_int_weights
from edgeasr import QuantizedMatrix


@settings(max_examples=60, deadline=None)
@given(
    bits=st.sampled_from([8, 4]),
    sparse=st.booleans(),
    data=st.data(),
    shape=st.tuples(st.integers(1, 12), st.integers(1, 200)),
)
def test_int_round_trip_is_exact(bits, sparse, data, shape):
    qmax = 127 if bits == 8 else 7
    q = data.draw(hnp.arrays(np.int8, shape, elements=st.integers(-qmax, qmax)))
    scales = data.draw(hnp.arrays(np.float32, shape[0], elements=st.floats(1 / 1024, 1024.0, width=32)))
    m = QuantizedMatrix.from_int(q, scales, bits=bits, sparse=sparse)
    np.testing.assert_array_equal(m.to_int8(), q)
    np.testing.assert_array_equal(m.scales, scales)
    np.testing.assert_allclose(m.to_float(), q * scales[:, None], rtol=1e-6)
    assert m.nonzeros == np.count_nonzero(q)
    assert m.shape == shape


@settings(max_examples=40, deadline=None)
@given(
    bits=st.sampled_from([8, 4]),
    sparsity=st.one_of(st.none(), st.floats(0.0, 1.0)),
    w=hnp.arrays(np.float32, st.tuples(st.integers(1, 10), st.integers(1, 150)),
                 elements=st.floats(-100, 100, width=32)),
)
def test_float_quantization_error_is_within_half_a_step(bits, sparsity, w):
    m = QuantizedMatrix.from_float(w, bits=bits, sparsity=sparsity)
    back = m.to_float()
    kept = back != 0
    # Kept weights are off by at most half a quantization step of their row.
    step = m.scales[:, None]
    assert np.all(np.abs(back - w)[kept] <= 0.5 * np.broadcast_to(step, w.shape)[kept] * (1 + 1e-5))
    if sparsity is not None:
        dropped = int(round(sparsity * w.size))
        assert m.nonzeros <= w.size - dropped


def test_magnitude_sparsity_drops_the_smallest_weights(rng):
    w = rng.standard_normal((64, 256)).astype(np.float32)
    m = QuantizedMatrix.from_float(w, bits=8, sparsity=0.5)
    kept = m.to_int8() != 0
    assert abs(m.density - 0.5) < 0.01
    # Every dropped weight is no larger than every kept one.
    assert np.abs(w[~kept]).max() <= np.abs(w[kept]).min() + 1e-6


def test_mask_selects_exactly_the_kept_weights(rng):
    w = rng.uniform(1.0, 2.0, size=(10, 70)).astype(np.float32)  # no weight quantizes to zero
    mask = rng.random(w.shape) < 0.3
    m = QuantizedMatrix.from_float(w, bits=4, sparsity=mask)
    np.testing.assert_array_equal(m.to_int8() != 0, mask)


def test_sparse_storage_costs_one_bit_per_zero(rng):
    rows, cols = 256, 1024
    q = random_int_weights(rng, rows, cols, 8, 0.5)
    dense = QuantizedMatrix.from_int(q, np.ones(rows, np.float32), bits=8)
    sparse = QuantizedMatrix.from_int(q, np.ones(rows, np.float32), bits=8, sparse=True)
    scales_and_offsets = rows * 4 + (rows + 1) * 4
    assert dense.nbytes == rows * cols + rows * 4
    assert sparse.nbytes == np.count_nonzero(q) + rows * cols // 8 + scales_and_offsets
    q4 = random_int_weights(rng, rows, cols, 4, 0.5)
    sparse4 = QuantizedMatrix.from_int(q4, np.ones(rows, np.float32), bits=4, sparse=True)
    values = sparse4.nbytes - rows * cols // 8 - scales_and_offsets
    # Nibbles, plus at most half a byte of padding per 64-column block.
    assert np.count_nonzero(q4) / 2 <= values <= np.count_nonzero(q4) / 2 + rows * cols / 128


def test_density_zero_and_one(rng):
    zeros = np.zeros((5, 100), np.int8)
    m = QuantizedMatrix.from_int(zeros, np.ones(5, np.float32), bits=8, sparse=True)
    assert m.density == 0.0
    np.testing.assert_array_equal(m.matvec(np.ones(100, np.float32)), np.zeros(5, np.float32))
    full = np.full((5, 100), 3, np.int8)
    assert QuantizedMatrix.from_int(full, np.ones(5, np.float32), bits=4, sparse=True).density == 1.0


def test_all_zero_float_row_gets_scale_one():
    w = np.zeros((2, 10), np.float32)
    w[1, 3] = 2.0
    m = QuantizedMatrix.from_float(w)
    assert m.scales[0] == 1.0
    np.testing.assert_allclose(m.to_float(), w, atol=1e-6)


def test_rows_too_small_to_scale_are_zero():
    w = np.array([[8e-45, -3e-40], [1.0, 0.5]], np.float32)
    m = QuantizedMatrix.from_float(w)
    np.testing.assert_array_equal(m.to_int8()[0], [0, 0])
    assert m.scales[0] == 1.0
    x = np.array([1e-42, 0.0], np.float32)  # activations too small to scale: zero, not NaN
    np.testing.assert_array_equal(m.matvec(x), [0.0, 0.0])
