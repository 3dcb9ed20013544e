// Sparse int8 GEMM on AMX tiles for up to 32 activation rows: vpexpandb reconstitutes each 16 x 64 weight
// tile's zeros in L1, and the tile serves every activation tile (see SparseGemm).
#include "amx_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_spmm__amx(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                   int32_t* acc) {
  amx::SparseGemm<Format::kSparseQ8, int8_t>(
      w, x, m, row_begin, row_end, acc,
      [](const SparseBlockMask* mask, const int8_t* p) { return avx512::ExpandQ8(mask, p); }, &qs8_spmm__avx512);
}

}  // namespace edgeasr
