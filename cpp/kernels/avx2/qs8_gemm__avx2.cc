// Dense int8 GEMM for up to 32 activation rows: eight weight rows at a time, reused from L1 for every activation
// row, each (8 rows x 1 activation row) product reduced in one transposing tree and stored as one vector. Tiles of
// 2 weight rows x 4 activation rows (TileGemm) had paid a full reduction per output: 17 % more time for the
// encoder's 1536 x 192 input projection of 32 steps, where each row is only 6 vectors long.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemm__avx2(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols, stride = w.rows;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, m * kp, abs_buffer);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  size_t r = row_begin;
  for (; r + 8 <= row_end; r += 8)
    for (size_t i = 0; i < m; ++i) DotRows<8>(q + r * kp, kp, x + i * kp, ax + i * kp, acc + i * stride + r);
  for (; r + 4 <= row_end; r += 4)
    for (size_t i = 0; i < m; ++i) DotRows<4>(q + r * kp, kp, x + i * kp, ax + i * kp, acc + i * stride + r);
  for (; r < row_end; ++r)
    for (size_t i = 0; i < m; ++i) DotRows<1>(q + r * kp, kp, x + i * kp, ax + i * kp, acc + i * stride + r);
}

}  // namespace edgeasr
