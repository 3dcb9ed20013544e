// Dense int4 GEMV: four rows at a time; nibbles unpacked to int8 in registers, eight products per int16 lane.
#include "edgeasr/kernels.h"
#include "neon_common.h"

namespace edgeasr {

void qs4_gemv__neon(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end, int32_t* acc) {
  neon::Gemv<neon::DenseQ4>(w, x, m, row_begin, row_end, acc);
}

}  // namespace edgeasr
