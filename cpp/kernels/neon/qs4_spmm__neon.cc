// Sparse int4 GEMM on the compressed form: each block is unpacked and expanded once in registers and reused
// for all m activation rows, two weight rows at a time.
#include "edgeasr/kernels.h"
#include "neon_common.h"

namespace edgeasr {

void qs4_spmm__neon(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end, int32_t* acc) {
  neon::Gemm<neon::SparseQ4>(w, x, m, row_begin, row_end, acc);
}

}  // namespace edgeasr
