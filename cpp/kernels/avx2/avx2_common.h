// Helpers shared by the AVX2 kernels. Everything is static inline: compiled only into AVX2 files, never
// visible to the linker, so no AVX2 copy can stand in for code the scalar path runs.
#pragma once

#include <immintrin.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeasr/formats.h"

namespace edgeasr {
namespace avx2 {

static inline __m256i Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Sum of products of 32 int8 pairs into 8 int32 lanes. The sign trick keeps vpmaddubsw exact: |x| is the unsigned
// operand and w takes x's sign; with both in [-127, 127], a pair of products never leaves int16.
static inline __m256i DotI8(__m256i acc, __m256i x, __m256i abs_x, __m256i w) {
  const __m256i pairs = _mm256_maddubs_epi16(abs_x, _mm256_sign_epi8(w, x));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Products of 32 unsigned nibbles (0..15) with 32 int8: no sign trick needed, 2*15*127 fits int16.
static inline __m256i DotU4I8(__m256i nibbles, __m256i x) { return _mm256_maddubs_epi16(nibbles, x); }

static inline __m256i WidenI16(__m256i acc, __m256i pairs) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

static inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Four horizontal sums at once: lane i of the result is the sum of a[i].
static inline __m128i HorizontalSum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
  const __m256i s01 = _mm256_hadd_epi32(a0, a1);
  const __m256i s23 = _mm256_hadd_epi32(a2, a3);
  const __m256i s = _mm256_hadd_epi32(s01, s23);
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Eight horizontal sums at once: lane i of the result is the sum of a[i]. Pairs interleaved (32-bit, then 64-bit),
// then the 128-bit halves: 21 shuffles and adds for eight rows instead of seven per row.
static inline __m256i HorizontalSum8(const __m256i* a) {
  __m256i p[4], v[2];
  for (size_t j = 0; j < 4; ++j)
    p[j] = _mm256_add_epi32(_mm256_unpacklo_epi32(a[2 * j], a[2 * j + 1]), _mm256_unpackhi_epi32(a[2 * j], a[2 * j + 1]));
  for (size_t j = 0; j < 2; ++j)
    v[j] = _mm256_add_epi32(_mm256_unpacklo_epi64(p[2 * j], p[2 * j + 1]), _mm256_unpackhi_epi64(p[2 * j], p[2 * j + 1]));
  // v[0] holds rows 0..3 in each half, v[1] rows 4..7: add the halves.
  return _mm256_add_epi32(_mm256_permute2x128_si256(v[0], v[1], 0x20), _mm256_permute2x128_si256(v[0], v[1], 0x31));
}

// R consecutive int8 weight rows (stride kp) against one activation row x (|x| in ax): each load of x and |x|
// serves R rows, and R = 8 or 4 rows are reduced together. out[j] = row j's sum.
template <size_t R>
static inline void DotRows(const int8_t* q, size_t kp, const int8_t* x, const int8_t* ax, int32_t* out) {
  __m256i a[R];
  for (size_t j = 0; j < R; ++j) a[j] = _mm256_setzero_si256();
  for (size_t c = 0; c < kp; c += 32) {
    const __m256i xv = Load(x + c), av = Load(ax + c);
    for (size_t j = 0; j < R; ++j) a[j] = DotI8(a[j], xv, av, Load(q + j * kp + c));
  }
  if constexpr (R == 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), HorizontalSum8(a));
  } else if constexpr (R == 4) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), HorizontalSum4(a[0], a[1], a[2], a[3]));
  } else {
    for (size_t j = 0; j < R; ++j) out[j] = HorizontalSum(a[j]);
  }
}

// Splits 32 packed bytes into their low nibbles (columns 0..31 of a BlockQ4) and high nibbles (columns 32..63).
static inline void SplitNibbles(__m256i b, __m256i* lo, __m256i* hi) {
  const __m256i m = _mm256_set1_epi8(0x0F);
  *lo = _mm256_and_si256(b, m);
  *hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m);
}

// Expands the nonzeros of 32 columns (two 16-column groups, bits of m32) into their positions, zeros elsewhere.
// lane 0 reads the values at p, lane 1 the values after group 0's. Shuffle indices come from a prefix count of
// the set bits inside each 128-bit lane, so no lookup table competes with the weights for cache.
static inline __m256i Expand32(uint32_t m32, const int8_t* p) {
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128,  //
                                       1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m32)), spread);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);  // -1 where nonzero
  __m256i prefix = set;                                                       // -(set bits up to here)
  prefix = _mm256_add_epi8(prefix, _mm256_slli_si256(prefix, 1));
  prefix = _mm256_add_epi8(prefix, _mm256_slli_si256(prefix, 2));
  prefix = _mm256_add_epi8(prefix, _mm256_slli_si256(prefix, 4));
  prefix = _mm256_add_epi8(prefix, _mm256_slli_si256(prefix, 8));
  const __m256i index = _mm256_xor_si256(prefix, _mm256_set1_epi8(-1));  // (set bits up to here) - 1
  const unsigned n0 = static_cast<unsigned>(std::popcount(m32 & 0xFFFFu));
  const __m256i values = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(p + n0),
                                             reinterpret_cast<const __m128i*>(p));
  return _mm256_and_si256(_mm256_shuffle_epi8(values, index), set);
}

// Expands one 64-column block (mask bits, values at p) into two vectors of 32 int8 weights.
static inline void ExpandBlock(uint64_t bits, const int8_t* p, __m256i* w0, __m256i* w1) {
  *w0 = Expand32(static_cast<uint32_t>(bits), p);
  *w1 = Expand32(static_cast<uint32_t>(bits >> 32), p + std::popcount(bits & 0xFFFFFFFFu));
}

// Rows of sparse int4 weights unpacked to int8 values (value - 8), each block's values at the start of its own
// aligned 64-byte slot, so the int8 expansion can take over. Unpacking a chunk of rows before expanding any keeps
// loads away from bytes stored moments before (a load straddling pending stores fails store-to-load forwarding),
// and aligned slots avoid stores that split cache lines. Memory traffic stays at int4; the scratch stays in L1/L2.
class Q4RowUnpacker {
 public:
  static constexpr size_t kChunkRows = 8;

  // Unpacks rows [r0, r1), r1 - r0 <= kChunkRows; Block(i, b) then holds the values of block b of row r0 + i.
  void Unpack(const WeightsView& w, size_t r0, size_t r1) {
    blocks_ = w.padded_cols / kBlockCols;
    buffer_.resize((r1 - r0 + 1) * blocks_ * kBlockCols + 64);
    const __m256i offset = _mm256_set1_epi8(kQ4Offset);
    for (size_t r = r0; r < r1; ++r) {
      const SparseBlockMask* masks = w.masks + r * blocks_;
      int8_t* dst = Slot(r - r0, 0);
      const uint8_t* p = static_cast<const uint8_t*>(w.values) + w.row_offsets[r];
      for (size_t b = 0; b < blocks_; ++b, dst += kBlockCols) {
        const unsigned n = static_cast<unsigned>(std::popcount(masks[b].bits));
        __m256i lo, hi;
        SplitNibbles(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), &lo, &hi);
        const __m256i a = _mm256_unpacklo_epi8(lo, hi);  // values 0..15 | 32..47
        const __m256i c = _mm256_unpackhi_epi8(lo, hi);  // values 16..31 | 48..63
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst),
                           _mm256_sub_epi8(_mm256_permute2x128_si256(a, c, 0x20), offset));
        // Unconditional: with about half the blocks over 32 values, a branch here would mispredict half the time.
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 32),
                           _mm256_sub_epi8(_mm256_permute2x128_si256(a, c, 0x31), offset));
        p += SparseBlockBytes(Format::kSparseQ4, n);
      }
    }
  }
  const int8_t* Block(size_t i, size_t b) { return Slot(i, b); }

 private:
  int8_t* Slot(size_t i, size_t b) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(buffer_.data());
    int8_t* aligned = buffer_.data() + ((64 - base % 64) % 64);
    return aligned + (i * blocks_ + b) * kBlockCols;
  }
  std::vector<int8_t> buffer_;
  size_t blocks_ = 0;
};

// |x| for a whole activation row, computed once per call and shared by every weight row.
static inline const int8_t* AbsRow(const int8_t* x, size_t n, std::vector<int8_t>& buffer) {
  buffer.resize(n);
  for (size_t c = 0; c < n; c += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(buffer.data() + c), _mm256_abs_epi8(v));
  }
  return buffer.data();
}

static inline int32_t SumRow(const int8_t* x, size_t n) {
  __m256i acc = _mm256_setzero_si256();
  for (size_t c = 0; c < n; c += 32)
    acc = WidenI16(acc, _mm256_maddubs_epi16(_mm256_set1_epi8(1),
                                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c))));
  return HorizontalSum(acc);
}


// GEMM over int8 rows (row-major, stride kp): tiles of 2 weight rows x MR activation rows keep 2 * MR
// accumulators in registers, so each weight vector is loaded once per MR activation rows.
template <size_t MR>
static inline void TileGemm(const int8_t* q0, const int8_t* q1, const int8_t* x, const int8_t* ax, size_t kp,
                            int32_t* out0, size_t out_stride, bool two_rows) {
  __m256i a0[MR], a1[MR];
  for (size_t i = 0; i < MR; ++i) a0[i] = a1[i] = _mm256_setzero_si256();
  for (size_t c = 0; c < kp; c += 32) {
    const __m256i w0 = Load(q0 + c), w1 = Load(q1 + c);
    for (size_t i = 0; i < MR; ++i) {
      const __m256i xv = Load(x + i * kp + c), av = Load(ax + i * kp + c);
      a0[i] = DotI8(a0[i], xv, av, w0);
      a1[i] = DotI8(a1[i], xv, av, w1);
    }
  }
  for (size_t i = 0; i < MR; ++i) {
    out0[i * out_stride] = HorizontalSum(a0[i]);
    if (two_rows) out0[i * out_stride + 1] = HorizontalSum(a1[i]);
  }
}

// One or two int8 weight rows (q1 ignored unless two_rows) against all m activation rows; outputs go to
// out[i * stride] and out[i * stride + 1].
static inline void RowPairGemm(const int8_t* q0, const int8_t* q1, bool two_rows, const int8_t* x, const int8_t* ax,
                               size_t kp, size_t m, int32_t* out, size_t stride) {
  size_t i = 0;
  for (; i + 4 <= m; i += 4) TileGemm<4>(q0, q1, x + i * kp, ax + i * kp, kp, out + i * stride, stride, two_rows);
  for (; i < m; ++i) TileGemm<1>(q0, q1, x + i * kp, ax + i * kp, kp, out + i * stride, stride, two_rows);
}

// The GEMM of every format that is not int8 row-major: decode(r, row) writes weight row r as kp int8 values, two
// rows at a time into an L1-resident buffer, which then serves all m activation rows. Decoding (expanding the
// zeros, unpacking nibbles) thus happens once per weight row, not once per activation row.
template <class DecodeRow>
static inline void DecodedGemm(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                               int32_t* acc, DecodeRow decode) {
  const size_t kp = w.padded_cols;
  thread_local std::vector<int8_t> abs_buffer, rows_buffer;
  const int8_t* ax = AbsRow(x, m * kp, abs_buffer);
  rows_buffer.resize(2 * kp);
  int8_t* rows = rows_buffer.data();
  for (size_t r = row_begin; r < row_end; r += 2) {
    const bool two = r + 1 < row_end;
    decode(r, rows);
    if (two) decode(r + 1, rows + kp);
    RowPairGemm(rows, rows + kp, two, x, ax, kp, m, acc + r, w.rows);
  }
}

}  // namespace avx2
}  // namespace edgeasr
