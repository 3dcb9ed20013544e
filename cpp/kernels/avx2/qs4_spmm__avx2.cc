// Sparse int4 GEMM for up to 32 activation rows: rows are unpacked to bytes in chunks (see Q4RowUnpacker), and each
// block expanded once for every activation row.
#include <algorithm>

#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs4_spmm__avx2(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols, blocks = kp / kBlockCols;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, m * kp, abs_buffer);
  Q4RowUnpacker unpacked;  // local, not thread_local: a TLS object in a shared library costs a call per access
  for (size_t r = row_begin; r < row_end; ++r) {
    const size_t chunk = (r - row_begin) % Q4RowUnpacker::kChunkRows;
    if (chunk == 0) unpacked.Unpack(w, r, std::min(r + Q4RowUnpacker::kChunkRows, row_end));
    const SparseBlockMask* masks = w.masks + r * blocks;
    __m256i a[kMaxGemmRows];
    for (size_t i = 0; i < m; ++i) a[i] = _mm256_setzero_si256();
    for (size_t b = 0; b < blocks; ++b) {
      const uint64_t bits = masks[b].bits;
      if (bits == 0) continue;
      __m256i w0, w1;
      ExpandBlock(bits, unpacked.Block(chunk, b), &w0, &w1);
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
