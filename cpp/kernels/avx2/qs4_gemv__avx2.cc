// Dense int4 GEMV: nibbles stay unsigned (0..15) as vpmaddubsw's unsigned operand; the +8 storage offset is
// removed once per row as 8 * sum(x).
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

inline __m256i BlockDot(__m256i acc, const uint8_t* block, __m256i x_lo, __m256i x_hi) {
  using namespace avx2;
  __m256i lo, hi;
  SplitNibbles(Load(block), &lo, &hi);
  return WidenI16(acc, _mm256_add_epi16(DotU4I8(lo, x_lo), DotU4I8(hi, x_hi)));
}

}  // namespace

void qs4_gemv__avx2(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols, row_bytes = kp / 2;
  const int32_t offset = kQ4Offset * SumRow(x, kp);
  const uint8_t* q = static_cast<const uint8_t*>(w.values);
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* q0 = q + r * row_bytes;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t c = 0; c < kp; c += kBlockCols) {
      const __m256i xl = Load(x + c), xh = Load(x + c + 32);
      const size_t b = c / 2;
      a0 = BlockDot(a0, q0 + b, xl, xh);
      a1 = BlockDot(a1, q0 + row_bytes + b, xl, xh);
      a2 = BlockDot(a2, q0 + 2 * row_bytes + b, xl, xh);
      a3 = BlockDot(a3, q0 + 3 * row_bytes + b, xl, xh);
    }
    const __m128i sums = _mm_sub_epi32(HorizontalSum4(a0, a1, a2, a3), _mm_set1_epi32(offset));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + r), sums);
  }
  for (; r < row_end; ++r) {
    __m256i a = _mm256_setzero_si256();
    for (size_t c = 0; c < kp; c += kBlockCols) a = BlockDot(a, q + r * row_bytes + c / 2, Load(x + c), Load(x + c + 32));
    acc[r] = HorizontalSum(a) - offset;
  }
}

}  // namespace edgeasr
