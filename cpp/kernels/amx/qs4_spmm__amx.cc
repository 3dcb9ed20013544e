// Sparse int4 GEMM on AMX tiles for up to 32 activation rows: vpexpandb reconstitutes each 16 x 64 weight
// tile's zeros in L1 (nibbles back to signed int8), and the tile serves every activation tile (see SparseGemm).
#include "amx_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs4_spmm__amx(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                   int32_t* acc) {
  amx::SparseGemm<Format::kSparseQ4, uint8_t>(
      w, x, m, row_begin, row_end, acc,
      [](const SparseBlockMask* mask, const uint8_t* p) {
        return _mm512_sub_epi8(avx512::ExpandQ4Offset(mask, p), _mm512_set1_epi8(kQ4Offset));
      },
      &qs4_spmm__avx512);
}

}  // namespace edgeasr
