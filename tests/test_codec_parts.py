"""QuantizedMatrix.from_parts: the stored form read back from an untrusted file. Round trips are exact; every
corruption raises ValueError; random damage never crashes, and whatever is accepted multiplies correctly."""

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import ISAS, random_int_weights
from edgeasr import QuantizedMatrix, kernels

FORMATS = {"dense_q8": (8, False), "dense_q4": (4, False), "sparse_q8": (8, True), "sparse_q4": (4, True)}
SHAPES = [(1, 1), (3, 5), (2, 63), (5, 64), (3, 65), (4, 127), (2, 128), (7, 200)]


def make(fmt, rows, cols, density=0.5, seed=0):
    rng = np.random.default_rng(seed)
    bits, sparse = FORMATS[fmt]
    q = random_int_weights(rng, rows, cols, bits, density)
    scales = rng.uniform(0.01, 2.0, rows).astype(np.float32)
    return q, QuantizedMatrix.from_int(q, scales, bits=bits, sparse=sparse)


def rebuild(parts, **changes):
    p = {**parts, **changes}
    return QuantizedMatrix.from_parts(p["format"], p["rows"], p["cols"], p["scales"], p["values"],
                                      p.get("masks"), p.get("row_offsets"))


def assert_multiplies_like_its_decoding(m, rng):
    """Every ISA's int32 product equals the decoded int8 weights times the activations (padding included)."""
    q = m.to_int8().astype(np.int64)
    assert m.nonzeros == np.count_nonzero(q)
    for mm in (1, 3):
        xq = rng.integers(-127, 128, size=(mm, m._m.padded_cols)).astype(np.int8)
        expected = xq[:, :m.shape[1]].astype(np.int64) @ q.T
        for isa in ISAS:
            np.testing.assert_array_equal(m.matmul_int32(xq, isa=isa), expected, err_msg=isa)
    # The float product is the int32 one scaled by both scales (exactly, even where a huge scale overflows).
    x = rng.standard_normal((2, m.shape[1])).astype(np.float32)
    xq, xs = kernels.quantize_activations(x)
    acc = (xq[:, :m.shape[1]].astype(np.int64) @ q.T).astype(np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(m.matmul(x), acc * (xs[:, None] * m.scales[None, :]))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_round_trip_is_exact(fmt, shape, density, rng):
    q, m = make(fmt, *shape, density=density)
    parts = m.to_parts()
    assert parts["format"] == fmt and (parts["rows"], parts["cols"]) == shape
    bits, sparse = FORMATS[fmt]
    assert parts["values"].dtype == (np.int8 if bits == 8 else np.uint8)
    assert ("masks" in parts) == sparse and ("row_offsets" in parts) == sparse
    if sparse:
        blocks = -(-shape[1] // 64)
        assert parts["masks"].dtype == np.uint64 and parts["masks"].shape == (shape[0] * blocks,)
        assert parts["row_offsets"].dtype == np.uint32 and parts["row_offsets"][-1] == parts["values"].size
    back = rebuild(parts)
    np.testing.assert_array_equal(back.to_int8(), q)
    np.testing.assert_array_equal(back.scales, m.scales)
    assert back.format == fmt and back.shape == shape
    assert back.nonzeros == m.nonzeros and back.nbytes == m.nbytes
    again = back.to_parts()
    for key, value in parts.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)
    assert_multiplies_like_its_decoding(back, rng)


def test_parts_are_copies():
    _, m = make("sparse_q8", 3, 70)
    parts = m.to_parts()
    parts["values"][:] = 0
    parts["masks"][:] = 0
    assert m.to_parts()["values"].any() and m.to_parts()["masks"].any()


def damaged(fmt, rows=3, cols=70, density=0.5):
    """The parts of a small matrix, writable, for a test to damage."""
    _, m = make(fmt, rows, cols, density)
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in m.to_parts().items()}


def first_set(masks, row, blocks):
    """(block, bit) of the first set mask bit of ``row``."""
    for b in range(blocks):
        bits = int(masks[row * blocks + b])
        if bits:
            return b, (bits & -bits).bit_length() - 1
    raise AssertionError("row has no nonzero")


# --- corruptions common to every format -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("change, message", [
    (dict(format="dense_q2"), r"^format: expected one of"),
    (dict(format=3), r"^format: expected one of"),
    (dict(rows=0), r"^rows: must lie in \[1, "),
    (dict(cols=-1), r"^cols: must lie in \[1, "),
    (dict(rows=2 ** 40), r"^rows: must lie in \[1, "),
    (dict(rows=2.0), r"^rows: expected a positive int"),
    (dict(rows=True), r"^rows: expected a positive int"),
    (dict(rows=4), r"^scales: expected one per row \(4\), got 3"),
    (dict(scales=np.ones(2, np.float32)), r"^scales: expected one per row \(3\), got 2"),
    (dict(scales=np.array([1, np.nan, 1], np.float32)), r"^scales: row 1 has scale nan; scales must be finite"),
    (dict(scales=np.array([1, 1, np.inf], np.float32)), r"^scales: row 2 has scale inf"),
    (dict(scales=np.array([0, 1, 1], np.float32)), r"^scales: row 0 has scale 0\.0+; .* > 0"),
    (dict(scales=np.array([1, -1, 1], np.float32)), r"^scales: row 1 has scale -1"),
    (dict(scales=np.ones(3, np.float64)), r"^scales: expected dtype float32, got float64"),
    (dict(scales=np.ones((3, 1), np.float32)), r"^scales: expected 1 dimension"),
    (dict(scales=[1.0, 1.0, 1.0]), r"^scales: expected a numpy array"),
    (dict(values=np.zeros(10, np.int16)), r"^values: expected dtype"),
])
def test_common_corruptions_raise(fmt, change, message):
    with pytest.raises(ValueError, match=message):
        rebuild(damaged(fmt), **change)


@pytest.mark.parametrize("fmt", FORMATS)
def test_values_of_the_wrong_signedness_are_rejected(fmt):
    parts = damaged(fmt)
    want, other = (np.int8, np.uint8) if FORMATS[fmt][0] == 8 else (np.uint8, np.int8)
    with pytest.raises(ValueError, match=rf"^values: expected dtype {np.dtype(want)}, got {np.dtype(other)}"):
        rebuild(parts, values=parts["values"].view(other))


def test_non_contiguous_values_are_rejected():
    parts = damaged("dense_q8")
    with pytest.raises(ValueError, match="^values: array must be C-contiguous"):
        rebuild(parts, values=np.repeat(parts["values"], 2)[::2])


# --- dense ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["dense_q8", "dense_q4"])
def test_dense_length_must_be_exact(fmt):
    parts = damaged(fmt)
    per_row = 128 if fmt == "dense_q8" else 64
    for values in (parts["values"][:-1], np.concatenate([parts["values"], parts["values"][:1]]), parts["values"][:0]):
        with pytest.raises(ValueError, match=rf"^values: {fmt} needs 3 rows x {per_row} bytes = {3 * per_row}, "
                                             rf"got {values.size}$"):
            rebuild(parts, values=np.ascontiguousarray(values))


@pytest.mark.parametrize("fmt", ["dense_q8", "dense_q4"])
def test_dense_takes_no_masks(fmt):
    parts = damaged(fmt)
    with pytest.raises(ValueError, match=f"^masks: the dense format {fmt} takes no masks"):
        rebuild(parts, masks=np.zeros(6, np.uint64), row_offsets=np.zeros(4, np.uint32))


def test_dense_q8_rejects_minus_128():
    parts = damaged("dense_q8")
    parts["values"][128 + 5] = -128
    with pytest.raises(ValueError, match=r"^values: row 1, column 5 holds -128, outside .*\[-127, 127\]"):
        rebuild(parts)


def test_dense_q8_padding_must_be_zero():
    parts = damaged("dense_q8")
    parts["values"][2 * 128 + 70] = 1  # column 70 of row 2: padding (cols is 70)
    with pytest.raises(ValueError, match=r"^values: row 2, padding column 70 \(cols is 70\) holds weight 1; padding"):
        rebuild(parts)


# Row 1 starts at byte 64; in a block, byte i holds column i (low nibble) and column i + 32 (high nibble).
@pytest.mark.parametrize("byte, nibble_value, column", [(64 + 3, 0x0F, 3), (64 + 3, 0xF0, 35), (64 + 32 + 2, 0x0F, 66)])
def test_dense_q4_rejects_nibble_zero(byte, nibble_value, column):
    parts = damaged("dense_q4")
    # Clear one nibble: stored 0 is weight -8, outside [-7, 7].
    parts["values"][byte] &= np.uint8(~nibble_value & 0xFF)
    with pytest.raises(ValueError, match=rf"^values: row 1, column {column} holds nibble 0 \(weight -8\)"):
        rebuild(parts)


def test_dense_q4_padding_must_be_zero():
    parts = damaged("dense_q4")
    # Row 0, block 1 holds columns 64..127; column 64 + 7 = 71 is padding (cols 70), low nibble of byte 32 + 7.
    parts["values"][32 + 7] = (parts["values"][32 + 7] & 0xF0) | 9
    with pytest.raises(ValueError, match=r"^values: row 0, padding column 71 \(cols is 70\) holds weight 1"):
        rebuild(parts)


# --- sparse -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["sparse_q8", "sparse_q4"])
def test_sparse_needs_masks_and_offsets(fmt):
    parts = damaged(fmt)
    with pytest.raises(ValueError, match=f"^masks: the sparse format {fmt} needs masks and row_offsets"):
        rebuild({k: v for k, v in parts.items() if k != "masks"})
    with pytest.raises(ValueError, match="^row_offsets: expected dtype uint32, got int64"):
        rebuild(parts, row_offsets=parts["row_offsets"].astype(np.int64))
    with pytest.raises(ValueError, match="^masks: expected dtype uint64, got int64"):
        rebuild(parts, masks=parts["masks"].view(np.int64))


@pytest.mark.parametrize("fmt", ["sparse_q8", "sparse_q4"])
def test_sparse_mask_count(fmt):
    parts = damaged(fmt)
    with pytest.raises(ValueError, match=r"^masks: expected 6 \(rows 3 x blocks 2\), got 5"):
        rebuild(parts, masks=parts["masks"][:5].copy())


@pytest.mark.parametrize("fmt", ["sparse_q8", "sparse_q4"])
@pytest.mark.parametrize("bit", [6, 7, 63])
def test_sparse_mask_bit_past_cols(fmt, bit):
    parts = damaged(fmt)
    parts["masks"][3] |= np.uint64(1 << bit)  # row 1, block 1: columns 64..127, of which 64..69 exist
    if bit == 6:
        with pytest.raises(ValueError, match=r"^masks: row 1 sets the bit of column 70, at or past cols \(70\)"):
            rebuild(parts)
    else:
        with pytest.raises(ValueError, match=rf"^masks: row 1 sets the bit of column {64 + bit}, at or past cols"):
            rebuild(parts)


def test_sparse_mask_bits_fill_a_whole_last_block_when_cols_is_a_multiple_of_64():
    _, m = make("sparse_q8", 2, 128, density=1.0)
    parts = m.to_parts()
    assert int(parts["masks"][1]) == 2 ** 64 - 1
    assert rebuild(parts).nonzeros == m.nonzeros


@pytest.mark.parametrize("fmt", ["sparse_q8", "sparse_q4"])
def test_sparse_row_offsets(fmt):
    parts = damaged(fmt)
    offsets = parts["row_offsets"]
    with pytest.raises(ValueError, match=r"^row_offsets: expected rows \+ 1 = 4 entries, got 3"):
        rebuild(parts, row_offsets=offsets[:3].copy())
    with pytest.raises(ValueError, match=r"^row_offsets: must start at 0, got 1"):
        rebuild(parts, row_offsets=offsets + np.uint32(1))
    shifted = offsets.copy()
    shifted[1] += 1
    with pytest.raises(ValueError, match=r"^row_offsets: row 0 spans bytes \[0, \d+\) but its masks need \d+ bytes"):
        rebuild(parts, row_offsets=shifted)
    backwards = offsets.copy()
    backwards[2] = 0
    with pytest.raises(ValueError, match=r"^row_offsets: row 1 spans bytes"):
        rebuild(parts, row_offsets=backwards)
    huge = offsets.copy()
    huge[3] = 2 ** 32 - 1
    with pytest.raises(ValueError, match=r"^row_offsets: row 2 spans bytes"):
        rebuild(parts, row_offsets=huge)


@pytest.mark.parametrize("fmt", ["sparse_q8", "sparse_q4"])
def test_sparse_stream_length_must_match(fmt):
    parts = damaged(fmt)
    n = parts["values"].size
    for values in (parts["values"][:-1], np.concatenate([parts["values"], parts["values"][:3]])):
        with pytest.raises(ValueError, match=rf"^values: the stream must hold row_offsets\[rows\] = {n} bytes "
                                             rf"\(without padding\), got {values.size}"):
            rebuild(parts, values=np.ascontiguousarray(values))


def test_sparse_mask_and_stream_that_disagree_in_popcount():
    parts = damaged("sparse_q8")
    parts["masks"][0] &= parts["masks"][0] - np.uint64(1)  # one nonzero fewer in row 0
    with pytest.raises(ValueError, match=r"^row_offsets: row 0 spans bytes \[0, \d+\) but its masks need"):
        rebuild(parts)


def test_sparse_q8_rejects_minus_128_and_stored_zeros():
    parts = damaged("sparse_q8")
    b, bit = first_set(parts["masks"], 1, 2)
    start = int(parts["row_offsets"][1])
    parts["values"][start] = -128
    with pytest.raises(ValueError, match=rf"^values: row 1, column {64 * b + bit} holds -128, outside"):
        rebuild(parts)
    parts["values"][start] = 0
    with pytest.raises(ValueError, match=rf"^values: row 1, column {64 * b + bit} holds zero under a set mask bit"):
        rebuild(parts)


def test_sparse_q4_rejects_nibble_zero_stored_zero_and_a_dirty_spare_nibble():
    parts = damaged("sparse_q4")
    b, bit = first_set(parts["masks"], 2, 2)
    start = int(parts["row_offsets"][2])
    original = parts["values"][start]
    parts["values"][start] = original & 0xF0
    with pytest.raises(ValueError, match=rf"^values: row 2, column {64 * b + bit} holds nibble 0 \(weight -8\)"):
        rebuild(parts)
    parts["values"][start] = (original & 0xF0) | 8
    with pytest.raises(ValueError, match=rf"^values: row 2, column {64 * b + bit} holds zero under a set mask bit"):
        rebuild(parts)
    # A block with an odd count leaves the high nibble of its last byte unused; it must stay zero.
    q = np.zeros((1, 10), np.int8)
    q[0, [1, 4, 9]] = [3, -7, 7]
    odd = QuantizedMatrix.from_int(q, np.ones(1, np.float32), bits=4, sparse=True).to_parts()
    assert odd["values"].tolist() == [(-7 + 8) << 4 | (3 + 8), 7 + 8]
    odd["values"][1] |= 0x50
    with pytest.raises(ValueError, match=r"^values: row 0, block 0: the unused high nibble of its last byte"):
        rebuild(odd)


def test_an_all_zero_sparse_matrix_has_an_empty_stream(rng):
    _, m = make("sparse_q4", 4, 100, density=0.0)
    parts = m.to_parts()
    assert parts["values"].size == 0 and not parts["row_offsets"].any()
    back = rebuild(parts)
    assert back.nonzeros == 0
    assert_multiplies_like_its_decoding(back, rng)


# --- random damage ----------------------------------------------------------------------------------------------
ARRAYS = ["scales", "values", "masks", "row_offsets"]


def mutate(parts, data):
    """One random corruption: flip bits of a byte, set a byte, truncate or extend an array, or change a dimension."""
    keys = [k for k in ARRAYS if k in parts and parts[k].size]
    kind = data.draw(st.sampled_from(["flip", "set", "truncate", "extend", "dim"]))
    if kind == "dim" or not keys:
        key = data.draw(st.sampled_from(["rows", "cols"]))
        parts[key] = max(1, parts[key] + data.draw(st.integers(-3, 3)))
        return
    key = data.draw(st.sampled_from(keys))
    arr = parts[key]
    raw = arr.view(np.uint8)
    if kind in ("flip", "set"):
        i = data.draw(st.integers(0, raw.size - 1))
        if kind == "flip":
            raw[i] ^= np.uint8(1 << data.draw(st.integers(0, 7)))
        else:
            raw[i] = data.draw(st.sampled_from([0x00, 0x01, 0x08, 0x7F, 0x80, 0xF0, 0xFF]))
    elif kind == "truncate":
        parts[key] = arr[:data.draw(st.integers(0, arr.size - 1))].copy()
    else:
        count = data.draw(st.integers(1, 4))
        extra = np.frombuffer(data.draw(st.binary(min_size=count * arr.itemsize, max_size=count * arr.itemsize)),
                              dtype=arr.dtype)
        parts[key] = np.concatenate([arr, extra])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(list(FORMATS)), rows=st.integers(1, 5), cols=st.integers(1, 150),
       density=st.sampled_from([0.1, 0.5, 0.9]), seed=st.integers(0, 2 ** 16), data=st.data())
def test_random_damage_is_rejected_or_harmless(fmt, rows, cols, density, seed, data):
    parts = damaged(fmt, rows, cols, density)
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(parts, data)
    try:
        m = rebuild(parts)
    except ValueError:
        event("rejected")
        return
    event("accepted")
    # Accepted: the matrix is self-consistent, and every kernel agrees with its decoding.
    assert m.shape == (parts["rows"], parts["cols"])
    assert np.all(np.isfinite(m.scales)) and np.all(m.scales > 0)
    q = m.to_int8()
    qmax = 127 if fmt.endswith("q8") else 7
    assert q.min(initial=0) >= -qmax and q.max(initial=0) <= qmax
    assert_multiplies_like_its_decoding(m, np.random.default_rng(seed))
