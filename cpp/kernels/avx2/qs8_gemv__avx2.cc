// Dense int8 GEMV: four weight rows at a time share each load of x and |x|.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemv__avx2(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, kp, abs_buffer);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const int8_t* q0 = q + r * kp;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t c = 0; c < kp; c += 32) {
      const __m256i xv = Load(x + c), av = Load(ax + c);
      a0 = DotI8(a0, xv, av, Load(q0 + c));
      a1 = DotI8(a1, xv, av, Load(q0 + kp + c));
      a2 = DotI8(a2, xv, av, Load(q0 + 2 * kp + c));
      a3 = DotI8(a3, xv, av, Load(q0 + 3 * kp + c));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + r), HorizontalSum4(a0, a1, a2, a3));
  }
  for (; r < row_end; ++r) {
    __m256i a = _mm256_setzero_si256();
    for (size_t c = 0; c < kp; c += 32) a = DotI8(a, Load(x + c), Load(ax + c), Load(q + r * kp + c));
    acc[r] = HorizontalSum(a);
  }
}

}  // namespace edgeasr
