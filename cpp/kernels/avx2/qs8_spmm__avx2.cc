// Sparse int8 GEMM for up to 32 activation rows: a block is expanded once, then used for every activation row.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_spmm__avx2(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols, blocks = kp / kBlockCols;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, m * kp, abs_buffer);
  const int8_t* stream = static_cast<const int8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; ++r) {
    const SparseBlockMask* masks = w.masks + r * blocks;
    const int8_t* p = stream + w.row_offsets[r];
    __m256i a[kMaxGemmRows];
    for (size_t i = 0; i < m; ++i) a[i] = _mm256_setzero_si256();
    for (size_t b = 0; b < blocks; ++b) {
      const uint64_t bits = masks[b].bits;
      if (bits == 0) continue;
      __m256i w0, w1;
      ExpandBlock(bits, p, &w0, &w1);
      p += std::popcount(bits);
      const size_t c = b * kBlockCols;
      for (size_t i = 0; i < m; ++i) {
        const size_t o = i * kp + c;
        a[i] = DotI8(a[i], Load(x + o), Load(ax + o), w0);
        a[i] = DotI8(a[i], Load(x + o + 32), Load(ax + o + 32), w1);
      }
    }
    for (size_t i = 0; i < m; ++i) acc[i * w.rows + r] = HorizontalSum(a[i]);
  }
}

}  // namespace edgeasr
