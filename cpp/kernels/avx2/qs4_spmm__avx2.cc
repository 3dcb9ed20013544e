// Sparse int4 GEMM for up to 32 activation rows: rows are unpacked to bytes in chunks (see Q4RowUnpacker), each
// row's blocks expanded once into an L1 row buffer, and the row multiplied into every activation row.
#include <algorithm>

#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs4_spmm__avx2(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t blocks = w.padded_cols / kBlockCols;
  Q4RowUnpacker unpacked;  // local, not thread_local: a TLS object in a shared library costs a call per access
  size_t chunk_begin = row_begin;
  DecodedGemm(w, x, m, row_begin, row_end, acc, [&](size_t r, int8_t* row) {
    if (r == row_begin || r - chunk_begin >= Q4RowUnpacker::kChunkRows) {
      chunk_begin = r;
      unpacked.Unpack(w, r, std::min(r + Q4RowUnpacker::kChunkRows, row_end));
    }
    for (size_t b = 0; b < blocks; ++b) {
      __m256i w0, w1;
      ExpandBlock(w.masks[r * blocks + b].bits, unpacked.Block(r - chunk_begin, b), &w0, &w1);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + b * kBlockCols), w0);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + b * kBlockCols + 32), w1);
    }
  });
}

}  // namespace edgeasr
