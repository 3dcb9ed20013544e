// Dense int8 GEMM for up to 32 activation rows: tiles of 2 weight rows x 4 activation rows keep 8 accumulators
// in registers, so each weight vector is loaded once per 4 activation rows.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

template <size_t MR>
void Tile(const int8_t* q0, const int8_t* q1, const int8_t* x, const int8_t* ax, size_t kp, int32_t* out0,
          size_t out_stride, bool two_rows) {
  using namespace avx2;
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

}  // namespace

void qs8_gemm__avx2(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, m * kp, abs_buffer);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; r += 2) {
    const bool two = r + 1 < row_end;
    const int8_t* q0 = q + r * kp;
    const int8_t* q1 = two ? q0 + kp : q0;
    size_t i = 0;
    for (; i + 4 <= m; i += 4) Tile<4>(q0, q1, x + i * kp, ax + i * kp, kp, acc + i * w.rows + r, w.rows, two);
    for (; i < m; ++i) Tile<1>(q0, q1, x + i * kp, ax + i * kp, kp, acc + i * w.rows + r, w.rows, two);
  }
}

}  // namespace edgeasr
