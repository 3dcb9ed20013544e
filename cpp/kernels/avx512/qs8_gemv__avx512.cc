// Dense int8 GEMV with VNNI: several weight rows at a time share each load of the biased activations, and their
// independent streams keep enough loads in flight to approach the read bandwidth.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

template <size_t R>
void Rows(const int8_t* q, size_t kp, const uint8_t* xb, int32_t* out) {
  using namespace avx512;
  __m512i a[R], b[R];
  for (size_t j = 0; j < R; ++j) a[j] = b[j] = _mm512_setzero_si512();
  for (size_t c = 0; c < kp; c += 64) {
    const __m512i xv = Load(xb + c);
    for (size_t j = 0; j < R; ++j) {
      const __m512i wv = Load(q + j * kp + c);
      a[j] = Dot(a[j], xv, wv);
      b[j] = BiasDot(b[j], wv);
    }
  }
  for (size_t j = 0; j < R; ++j) out[j] = _mm512_reduce_add_epi32(_mm512_sub_epi32(a[j], b[j]));
}

}  // namespace

void qs8_gemv__avx512(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  constexpr size_t kRows = 4;  // 2, 4 and 8 measured the same: the loop is bound by read bandwidth
  const size_t kp = w.padded_cols;
  thread_local std::vector<uint8_t> biased;
  const uint8_t* xb = BiasedRow(x, kp, biased);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  size_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) Rows<kRows>(q + r * kp, kp, xb, acc + r);
  for (; r < row_end; ++r) Rows<1>(q + r * kp, kp, xb, acc + r);
}

}  // namespace edgeasr
