// Reference kernel: walks the bitmap one bit at a time; zeros cost nothing but the bit test.

#include "edgeasr/kernels.h"

namespace edgeasr {

void qs4_spmm__scalar(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  const size_t kp = w.padded_cols;
  const size_t blocks_per_row = kp / kBlockCols;
  const uint8_t* stream = static_cast<const uint8_t*>(w.values);
  for (size_t i = 0; i < m; ++i)
    for (size_t r = row_begin; r < row_end; ++r) {
      const uint8_t* p = stream + w.row_offsets[r];
      int32_t sum = 0;
      for (size_t b = 0; b < blocks_per_row; ++b) {
        const uint64_t bits = w.masks[r * blocks_per_row + b].bits;
        unsigned n = 0;
        for (size_t j = 0; j < kBlockCols; ++j) {
          if (!((bits >> j) & 1)) continue;
          const int32_t q = ((p[n / 2] >> (4 * (n % 2))) & 0x0F) - kQ4Offset;
          sum += int32_t{x[i * kp + b * kBlockCols + j]} * q;
          ++n;
        }
        p += SparseBlockBytes(Format::kSparseQ4, n);
      }
      acc[i * w.rows + r] = sum;
    }
}

}  // namespace edgeasr
