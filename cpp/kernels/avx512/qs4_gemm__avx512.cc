// Dense int4 GEMM with VNNI for up to 32 activation rows: each pair of blocks is unpacked once per weight row.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs4_gemm__avx512(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  const size_t kp = w.padded_cols, row_bytes = kp / 2, full = (kp / kBlockCols) / 2, xr_bytes = Q4RearrangedBytes(kp);
  const bool odd = (kp / kBlockCols) % 2;
  thread_local std::vector<int8_t> xr;
  xr.resize(m * xr_bytes);
  int32_t offsets[kMaxGemmRows];
  for (size_t i = 0; i < m; ++i) {
    RearrangeForQ4(x + i * kp, kp, xr.data() + i * xr_bytes);
    int32_t sum = 0;
    for (size_t c = 0; c < kp; ++c) sum += x[i * kp + c];
    offsets[i] = kQ4Offset * sum;
  }
  const uint8_t* q = static_cast<const uint8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; ++r) {
    const uint8_t* q0 = q + r * row_bytes;
    __m512i a[kMaxGemmRows];
    for (size_t i = 0; i < m; ++i) a[i] = _mm512_setzero_si512();
    for (size_t j = 0; j < full + odd; ++j) {
      const __m512i packed = j < full ? Load(q0 + j * 64) : LoadQ4Half(q0 + j * 64);
      for (size_t i = 0; i < m; ++i) a[i] = Q4PairDot(a[i], packed, xr.data() + i * xr_bytes + j * 128);
    }
    for (size_t i = 0; i < m; ++i) acc[i * w.rows + r] = _mm512_reduce_add_epi32(a[i]) - offsets[i];
  }
}

}  // namespace edgeasr
