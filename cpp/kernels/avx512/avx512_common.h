// Helpers shared by the AVX-512 kernels (F/BW/VL + VNNI + VBMI2: Ice Lake, Sapphire Rapids, Zen 4 and later).
// Static inline only, so these never reach the linker as symbols another path could pick up.
//
// vpdpbusd multiplies unsigned by signed bytes and sums four products into int32 without saturation. Activations
// go in as x + 128 (unsigned); the extra 128 * sum(w) is taken out with a second vpdpbusd against a vector of 128s,
// which a GEMM shares across all its activation rows. vpexpandb puts a block's packed nonzeros into place in one
// instruction: the "reconstitute the zeros" step the sparse formats were designed around.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeasr/formats.h"

namespace edgeasr {
namespace avx512 {

static inline __m512i Load(const void* p) { return _mm512_loadu_si512(p); }

// acc += four-way sums of u8 * s8 products. Inline asm ties the accumulator to its register: GCC 12 otherwise
// copies every accumulator of a register tile once per iteration, which cost 3x in the GEMM tiles.
static inline __m512i Dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

static inline __m512i Dot(__m512i acc, __m512i x_biased, __m512i w) { return Dpbusd(acc, x_biased, w); }

// 128 * sum(w) per lane group: the bias that Dot adds when x is stored as x + 128.
static inline __m512i BiasDot(__m512i acc, __m512i w) {
  return Dpbusd(acc, _mm512_set1_epi8(static_cast<char>(0x80)), w);
}

// x + 128 as unsigned bytes for n activations (n a multiple of 64).
static inline const uint8_t* BiasedRow(const int8_t* x, size_t n, std::vector<uint8_t>& buffer) {
  buffer.resize(n);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (size_t c = 0; c < n; c += 64) _mm512_storeu_si512(buffer.data() + c, _mm512_xor_si512(Load(x + c), flip));
  return buffer.data();
}

// GCC's _load_mask64 takes a non-const pointer, though it only reads.
static inline __mmask64 LoadMask(const SparseBlockMask* mask) {
  return _load_mask64(const_cast<__mmask64*>(reinterpret_cast<const __mmask64*>(&mask->bits)));
}

// Expands one sparse int8 block: the set bits of the mask receive the values at p, in order; the rest are zero.
static inline __m512i ExpandQ8(const SparseBlockMask* mask, const int8_t* p) {
  return _mm512_maskz_expand_epi8(LoadMask(mask), Load(p));
}

// Expands one sparse int4 block as unsigned nibbles (stored value + 8), with 8 (a stored zero) at the unset
// positions: then every position carries q + 8, the block needs no bias of its own, and the offset leaves once
// per row as 8 * sum(x), as in dense int4. The mask goes into a k register straight from memory: kmov from a
// general register would take a slot on the shuffle port, which the unpacking and vpexpandb already saturate.
static inline __m512i ExpandQ4Offset(const SparseBlockMask* mask, const uint8_t* p) {
  // Each byte b becomes the 16-bit word (b & 15) | (b >> 4) << 8: low nibble first, as values are numbered.
  const __m512i words = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m512i nibbles =
      _mm512_ternarylogic_epi32(words, _mm512_slli_epi16(words, 4), _mm512_set1_epi16(0x0F0F), 0xA8);  // (a|b)&c
  const __mmask64 k = LoadMask(mask);
  return _mm512_mask_expand_epi8(_mm512_set1_epi8(kQ4Offset), k, nibbles);
}

static inline int32_t SumRow(const int8_t* x, size_t n) {
  __m512i acc = _mm512_setzero_si512();
  for (size_t c = 0; c < n; c += 64) acc = Dpbusd(acc, _mm512_set1_epi8(1), Load(x + c));
  return _mm512_reduce_add_epi32(acc);
}

// Dense int4: nibbles (0..15) are vpdpbusd's unsigned operand and activations the signed one, so no bias is
// needed; the +8 storage offset leaves as 8 * sum(x) per row. A 64-byte load holds two blocks, split into low
// nibbles (columns 0..31 of each) and high nibbles (32..63), matched by activations rearranged the same way:
// per pair of blocks, x[0..32) x[64..96) then x[32..64) x[96..128). An odd last block pairs with zeros.
static inline size_t Q4RearrangedBytes(size_t kp) { return (kp / kBlockCols + 1) / 2 * 128; }

static inline void RearrangeForQ4(const int8_t* x, size_t kp, int8_t* out) {
  const size_t blocks = kp / kBlockCols;
  std::fill(out, out + Q4RearrangedBytes(kp), int8_t{0});
  for (size_t b = 0; b < blocks; ++b) {
    int8_t* dst = out + (b / 2) * 128 + (b % 2) * 32;
    std::copy(x + b * 64, x + b * 64 + 32, dst);
    std::copy(x + b * 64 + 32, x + b * 64 + 64, dst + 64);
  }
}

static inline __m512i Q4PairDot(__m512i acc, __m512i packed, const int8_t* xr) {
  const __m512i m = _mm512_set1_epi8(0x0F);
  acc = Dpbusd(acc, _mm512_and_si512(packed, m), Load(xr));
  return Dpbusd(acc, _mm512_and_si512(_mm512_srli_epi16(packed, 4), m), Load(xr + 64));
}

// The 32 bytes of an odd last block, upper half zero.
static inline __m512i LoadQ4Half(const uint8_t* p) {
  return _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Sums of up to four accumulators at once: lane j of the result is the sum of the 16 lanes of a[j].
static inline __m128i ReduceAdd4(const __m512i* a, size_t n) {
  __m256i h[4];
  for (size_t j = 0; j < 4; ++j) {
    const __m512i v = j < n ? a[j] : _mm512_setzero_si512();
    h[j] = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  }
  const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(h[0], h[1]), _mm256_hadd_epi32(h[2], h[3]));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Sums of sixteen accumulators in one transposing tree (32-bit pairs, 64-bit pairs, then 128-bit lanes): lane j of
// the result is the sum of the 16 lanes of a[j]. Sixteen separate reductions cost more than the products
// themselves when rows are short (the LSTM's 1536 x 192 recurrence: 3 blocks per row).
static inline __m512i ReduceAdd16(const __m512i* a) {
  __m512i p[8], v[4];
  for (size_t j = 0; j < 8; ++j) {
    const __m512i x = a[2 * j], y = a[2 * j + 1];
    p[j] = _mm512_add_epi32(_mm512_unpacklo_epi32(x, y), _mm512_unpackhi_epi32(x, y));
  }
  for (size_t j = 0; j < 4; ++j) {
    const __m512i x = p[2 * j], y = p[2 * j + 1];
    v[j] = _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y));
  }
  const __m512i w01 = _mm512_add_epi32(_mm512_shuffle_i32x4(v[0], v[1], 0x88), _mm512_shuffle_i32x4(v[0], v[1], 0xDD));
  const __m512i w23 = _mm512_add_epi32(_mm512_shuffle_i32x4(v[2], v[3], 0x88), _mm512_shuffle_i32x4(v[2], v[3], 0xDD));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(w01, w23, 0x88), _mm512_shuffle_i32x4(w01, w23, 0xDD));
}

// GEMM tiles: NR weight rows times MR activation rows, NR * MR accumulators held in registers (at most 16 of the
// 32 zmm), so each loaded or expanded weight vector serves MR activation rows and each activation vector NR rows.
constexpr size_t kTileRows = 4;      // weight rows per tile
constexpr size_t kTileActRows = 4;   // activation rows per tile

// Stores the NR x MR tile's sums minus each weight row's correction into acc (row-major [m][rows]).
template <size_t NR, size_t MR>
static inline void StoreTile(const __m512i (&a)[MR][NR], const int32_t* correction, int32_t* out, size_t stride) {
  for (size_t i = 0; i < MR; ++i) {
    alignas(16) int32_t sums[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(sums), ReduceAdd4(a[i], NR));
    for (size_t j = 0; j < NR; ++j) out[i * stride + j] = sums[j] - correction[j];
  }
}

}  // namespace avx512
}  // namespace edgeasr
