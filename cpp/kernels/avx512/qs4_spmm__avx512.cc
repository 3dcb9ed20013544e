// Sparse int4 GEMM for up to 32 activation rows: each block is expanded once (vpexpandb, stored zeros at the
// unset positions) and multiplied into every activation row.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs4_spmm__avx512(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  const size_t kp = w.padded_cols, blocks = kp / kBlockCols;
  int32_t offsets[kMaxGemmRows];
  for (size_t i = 0; i < m; ++i) offsets[i] = kQ4Offset * SumRow(x + i * kp, kp);
  const uint8_t* stream = static_cast<const uint8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; ++r) {
    const SparseBlockMask* masks = w.masks + r * blocks;
    const uint8_t* p = stream + w.row_offsets[r];
    __m512i a[kMaxGemmRows];
    for (size_t i = 0; i < m; ++i) a[i] = _mm512_setzero_si512();
    for (size_t b = 0; b < blocks; ++b) {
      const uint64_t bits = masks[b].bits;
      const __m512i wv = ExpandQ4Offset(&masks[b], p);
      p += SparseBlockBytes(Format::kSparseQ4, static_cast<unsigned>(std::popcount(bits)));
      for (size_t i = 0; i < m; ++i) a[i] = Dpbusd(a[i], wv, Load(x + i * kp + b * kBlockCols));
    }
    for (size_t i = 0; i < m; ++i) acc[i * w.rows + r] = _mm512_reduce_add_epi32(a[i]) - offsets[i];
  }
}

}  // namespace edgeasr
