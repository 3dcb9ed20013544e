// Reference kernel: one weight at a time, obviously right.
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemm__scalar(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  const size_t kp = w.padded_cols;
  const int8_t* q = static_cast<const int8_t*>(w.values);
  for (size_t i = 0; i < m; ++i)
    for (size_t r = row_begin; r < row_end; ++r) {
      int32_t sum = 0;
      for (size_t c = 0; c < kp; ++c) sum += int32_t{x[i * kp + c]} * int32_t{q[r * kp + c]};
      acc[i * w.rows + r] = sum;
    }
}

}  // namespace edgeasr
