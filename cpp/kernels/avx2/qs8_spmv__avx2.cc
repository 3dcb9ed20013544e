// Sparse int8 GEMV on the compressed form: each block's nonzeros are expanded into place in registers (never
// written back as a dense matrix) and multiplied like dense weights.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_spmv__avx2(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols, blocks = kp / kBlockCols;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, kp, abs_buffer);
  const int8_t* stream = static_cast<const int8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; ++r) {
    const SparseBlockMask* masks = w.masks + r * blocks;
    const int8_t* p = stream + w.row_offsets[r];
    __m256i a = _mm256_setzero_si256();
    for (size_t b = 0; b < blocks; ++b) {
      const uint64_t bits = masks[b].bits;
      if (bits == 0) continue;
      // The value loads' addresses depend on the previous blocks' popcounts, so the out-of-order core sees
      // only a few blocks ahead; a prefetch a few hundred bytes ahead keeps DRAM streaming.
      _mm_prefetch(reinterpret_cast<const char*>(p) + 1024, _MM_HINT_T0);
      __m256i w0, w1;
      ExpandBlock(bits, p, &w0, &w1);
      p += std::popcount(bits);
      const size_t c = b * kBlockCols;
      a = DotI8(a, Load(x + c), Load(ax + c), w0);
      a = DotI8(a, Load(x + c + 32), Load(ax + c + 32), w1);
    }
    acc[r] = HorizontalSum(a);
  }
}

}  // namespace edgeasr
