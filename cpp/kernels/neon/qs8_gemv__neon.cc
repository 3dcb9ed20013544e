// Dense int8 GEMV: four rows at a time, products paired in int16 and widened with vpadal.
#include "edgeasr/kernels.h"
#include "neon_common.h"

namespace edgeasr {

void qs8_gemv__neon(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end, int32_t* acc) {
  neon::Gemv<neon::DenseQ8>(w, x, m, row_begin, row_end, acc);
}

}  // namespace edgeasr
