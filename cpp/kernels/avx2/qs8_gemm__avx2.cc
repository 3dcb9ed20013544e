// Dense int8 GEMM for up to 32 activation rows: register tiles of 2 weight rows x 4 activation rows
// (see TileGemm), weights read straight from their rows.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemm__avx2(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, m * kp, abs_buffer);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; r += 2) {
    const bool two = r + 1 < row_end;
    RowPairGemm(q + r * kp, q + (two ? r + 1 : r) * kp, two, x, ax, kp, m, acc + r, w.rows);
  }
}

}  // namespace edgeasr
