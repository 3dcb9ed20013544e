// Sparse int8 GEMM for up to 32 activation rows: each block is expanded once (vpexpandb) and its bias
// computed once, then multiplied into every activation row.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_spmm__avx512(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  const size_t kp = w.padded_cols, blocks = kp / kBlockCols;
  thread_local std::vector<uint8_t> biased;
  const uint8_t* xb = BiasedRow(x, m * kp, biased);
  const int8_t* stream = static_cast<const int8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; ++r) {
    const SparseBlockMask* masks = w.masks + r * blocks;
    const int8_t* p = stream + w.row_offsets[r];
    __m512i a[kMaxGemmRows];
    for (size_t i = 0; i < m; ++i) a[i] = _mm512_setzero_si512();
    __m512i bias = _mm512_setzero_si512();
    for (size_t b = 0; b < blocks; ++b) {
      const uint64_t bits = masks[b].bits;
      if (bits == 0) continue;
      const __m512i wv = ExpandQ8(&masks[b], p);
      p += SparseBlockBytes(Format::kSparseQ8, static_cast<unsigned>(std::popcount(bits)));
      bias = BiasDot(bias, wv);
      for (size_t i = 0; i < m; ++i) a[i] = Dot(a[i], Load(xb + i * kp + b * kBlockCols), wv);
    }
    const int32_t bsum = _mm512_reduce_add_epi32(bias);
    for (size_t i = 0; i < m; ++i) acc[i * w.rows + r] = _mm512_reduce_add_epi32(a[i]) - bsum;
  }
}

}  // namespace edgeasr
