// Sparse int4 GEMV on the compressed form: each block's packed nibbles are unpacked and expanded into place in
// registers (vqtbl4), four rows at a time; all-zero blocks cost one mask load.
#include "edgeasr/kernels.h"
#include "neon_common.h"

namespace edgeasr {

void qs4_spmv__neon(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end, int32_t* acc) {
  neon::Gemv<neon::SparseQ4>(w, x, m, row_begin, row_end, acc);
}

}  // namespace edgeasr
