// Dense int4 GEMM: two weight rows at a time, each block unpacked once and reused for all m activation rows.
#include "edgeasr/kernels.h"
#include "neon_common.h"

namespace edgeasr {

void qs4_gemm__neon(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end, int32_t* acc) {
  neon::Gemm<neon::DenseQ4>(w, x, m, row_begin, row_end, acc);
}

}  // namespace edgeasr
