// Dense int4 GEMV with VNNI: one 64-byte load carries two blocks; see Q4PairDot.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {


void qs4_gemv__avx512(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  const size_t kp = w.padded_cols, row_bytes = kp / 2, full = (kp / kBlockCols) / 2;
  const bool odd = (kp / kBlockCols) % 2;
  thread_local std::vector<int8_t> xr;
  xr.resize(Q4RearrangedBytes(kp));
  RearrangeForQ4(x, kp, xr.data());
  int32_t sum_x = 0;
  for (size_t c = 0; c < kp; ++c) sum_x += x[c];
  const int32_t offset = kQ4Offset * sum_x;
  const uint8_t* q = static_cast<const uint8_t*>(w.values);
  size_t r = row_begin;
  // Short rows go sixteen at a time, summed in one transposing tree (ReduceAdd16): there the per-row reductions, not
  // the reads, would bound the loop. Longer rows keep the four-row path, bound by the reads (sixteen streams
  // measured a few percent slower there).
  constexpr size_t kShortRow = 512;
  for (; kp <= kShortRow && r + 16 <= row_end; r += 16) {
    const uint8_t* q0 = q + r * row_bytes;
    __m512i a[16];
    for (auto& v : a) v = _mm512_setzero_si512();
    for (size_t j = 0; j < full + odd; ++j)
      for (size_t k = 0; k < 16; ++k) {
        const uint8_t* p = q0 + k * row_bytes + j * 64;
        a[k] = Q4PairDot(a[k], j < full ? Load(p) : LoadQ4Half(p), xr.data() + j * 128);
      }
    _mm512_storeu_si512(acc + r, _mm512_sub_epi32(ReduceAdd16(a), _mm512_set1_epi32(offset)));
  }
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* q0 = q + r * row_bytes;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < full; ++j) {
      const int8_t* xp = xr.data() + j * 128;
      a0 = Q4PairDot(a0, Load(q0 + j * 64), xp);
      a1 = Q4PairDot(a1, Load(q0 + row_bytes + j * 64), xp);
      a2 = Q4PairDot(a2, Load(q0 + 2 * row_bytes + j * 64), xp);
      a3 = Q4PairDot(a3, Load(q0 + 3 * row_bytes + j * 64), xp);
    }
    if (odd) {
      const int8_t* xp = xr.data() + full * 128;
      a0 = Q4PairDot(a0, LoadQ4Half(q0 + full * 64), xp);
      a1 = Q4PairDot(a1, LoadQ4Half(q0 + row_bytes + full * 64), xp);
      a2 = Q4PairDot(a2, LoadQ4Half(q0 + 2 * row_bytes + full * 64), xp);
      a3 = Q4PairDot(a3, LoadQ4Half(q0 + 3 * row_bytes + full * 64), xp);
    }
    const __m512i sums[4] = {a0, a1, a2, a3};  // four horizontal sums at once, not four full reductions
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + r),
                     _mm_sub_epi32(ReduceAdd4(sums, 4), _mm_set1_epi32(offset)));
  }
  for (; r < row_end; ++r) {
    const uint8_t* q0 = q + r * row_bytes;
    __m512i a = _mm512_setzero_si512();
    for (size_t j = 0; j < full; ++j) a = Q4PairDot(a, Load(q0 + j * 64), xr.data() + j * 128);
    if (odd) a = Q4PairDot(a, LoadQ4Half(q0 + full * 64), xr.data() + full * 128);
    acc[r] = _mm512_reduce_add_epi32(a) - offset;
  }
}

}  // namespace edgeasr
