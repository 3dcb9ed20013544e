// Dense int8 GEMM with VNNI for up to 32 activation rows: each weight vector is loaded once per weight row and
// multiplied into every activation row; its bias correction is computed once and shared.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemm__avx512(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  const size_t kp = w.padded_cols;
  thread_local std::vector<uint8_t> biased;
  const uint8_t* xb = BiasedRow(x, m * kp, biased);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; ++r) {
    __m512i a[kMaxGemmRows];
    for (size_t i = 0; i < m; ++i) a[i] = _mm512_setzero_si512();
    __m512i bias = _mm512_setzero_si512();
    for (size_t c = 0; c < kp; c += 64) {
      const __m512i wv = Load(q + r * kp + c);
      bias = BiasDot(bias, wv);
      for (size_t i = 0; i < m; ++i) a[i] = Dot(a[i], Load(xb + i * kp + c), wv);
    }
    const int32_t b = _mm512_reduce_add_epi32(bias);
    for (size_t i = 0; i < m; ++i) acc[i * w.rows + r] = _mm512_reduce_add_epi32(a[i]) - b;
  }
}

}  // namespace edgeasr
