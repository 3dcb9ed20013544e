// Dense int8 GEMV with VNNI: four weight rows at a time share each load of the biased activations.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemv__avx512(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  const size_t kp = w.padded_cols;
  thread_local std::vector<uint8_t> biased;
  const uint8_t* xb = BiasedRow(x, kp, biased);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const int8_t* q0 = q + r * kp;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (size_t c = 0; c < kp; c += 64) {
      const __m512i xv = Load(xb + c);
      const __m512i w0 = Load(q0 + c), w1 = Load(q0 + kp + c), w2 = Load(q0 + 2 * kp + c), w3 = Load(q0 + 3 * kp + c);
      a0 = Dot(a0, xv, w0), b0 = BiasDot(b0, w0);
      a1 = Dot(a1, xv, w1), b1 = BiasDot(b1, w1);
      a2 = Dot(a2, xv, w2), b2 = BiasDot(b2, w2);
      a3 = Dot(a3, xv, w3), b3 = BiasDot(b3, w3);
    }
    acc[r] = _mm512_reduce_add_epi32(_mm512_sub_epi32(a0, b0));
    acc[r + 1] = _mm512_reduce_add_epi32(_mm512_sub_epi32(a1, b1));
    acc[r + 2] = _mm512_reduce_add_epi32(_mm512_sub_epi32(a2, b2));
    acc[r + 3] = _mm512_reduce_add_epi32(_mm512_sub_epi32(a3, b3));
  }
  for (; r < row_end; ++r) {
    __m512i a = _mm512_setzero_si512(), b = a;
    for (size_t c = 0; c < kp; c += 64) {
      const __m512i wv = Load(q + r * kp + c);
      a = Dot(a, Load(xb + c), wv), b = BiasDot(b, wv);
    }
    acc[r] = _mm512_reduce_add_epi32(_mm512_sub_epi32(a, b));
  }
}

}  // namespace edgeasr
