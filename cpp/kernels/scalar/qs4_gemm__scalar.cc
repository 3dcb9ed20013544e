// Reference kernel: one weight at a time, obviously right.
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs4_gemm__scalar(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  const size_t kp = w.padded_cols;
  const BlockQ4* blocks = static_cast<const BlockQ4*>(w.values);
  const size_t blocks_per_row = kp / kBlockCols;
  for (size_t i = 0; i < m; ++i)
    for (size_t r = row_begin; r < row_end; ++r) {
      int32_t sum = 0;
      for (size_t c = 0; c < kp; ++c) {
        const size_t j = c % kBlockCols;
        const uint8_t byte = blocks[r * blocks_per_row + c / kBlockCols].q[j % (kBlockCols / 2)];
        const int32_t q = (j < kBlockCols / 2 ? (byte & 0x0F) : (byte >> 4)) - kQ4Offset;
        sum += int32_t{x[i * kp + c]} * q;
      }
      acc[i * w.rows + r] = sum;
    }
}

}  // namespace edgeasr
