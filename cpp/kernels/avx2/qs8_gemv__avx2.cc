// Dense int8 GEMV: eight weight rows at a time share each load of x and |x| and one transposing reduction.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemv__avx2(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols;
  thread_local std::vector<int8_t> abs_buffer;
  const int8_t* ax = AbsRow(x, kp, abs_buffer);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  size_t r = row_begin;
  for (; r + 8 <= row_end; r += 8) DotRows<8>(q + r * kp, kp, x, ax, acc + r);
  for (; r + 4 <= row_end; r += 4) DotRows<4>(q + r * kp, kp, x, ax, acc + r);
  for (; r < row_end; ++r) DotRows<1>(q + r * kp, kp, x, ax, acc + r);
}

}  // namespace edgeasr
