// Dense int4 GEMM for up to 32 activation rows: each block is unpacked once and reused for 4 activation rows.
#include "avx2_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

template <size_t MR>
void Tile(const uint8_t* q, const int8_t* x, size_t kp, const int32_t* offsets, int32_t* out, size_t out_stride) {
  using namespace avx2;
  __m256i a[MR];
  for (size_t i = 0; i < MR; ++i) a[i] = _mm256_setzero_si256();
  for (size_t c = 0; c < kp; c += kBlockCols) {
    __m256i lo, hi;
    SplitNibbles(Load(q + c / 2), &lo, &hi);
    for (size_t i = 0; i < MR; ++i)
      a[i] = WidenI16(a[i], _mm256_add_epi16(DotU4I8(lo, Load(x + i * kp + c)), DotU4I8(hi, Load(x + i * kp + c + 32))));
  }
  for (size_t i = 0; i < MR; ++i) out[i * out_stride] = HorizontalSum(a[i]) - offsets[i];
}

}  // namespace

void qs4_gemm__avx2(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                    int32_t* acc) {
  using namespace avx2;
  const size_t kp = w.padded_cols, row_bytes = kp / 2;
  int32_t offsets[kMaxGemmRows];
  for (size_t i = 0; i < m; ++i) offsets[i] = kQ4Offset * SumRow(x + i * kp, kp);
  const uint8_t* q = static_cast<const uint8_t*>(w.values);
  for (size_t r = row_begin; r < row_end; ++r) {
    size_t i = 0;
    for (; i + 4 <= m; i += 4) Tile<4>(q + r * row_bytes, x + i * kp, kp, offsets + i, acc + i * w.rows + r, w.rows);
    for (; i < m; ++i) Tile<1>(q + r * row_bytes, x + i * kp, kp, offsets + i, acc + i * w.rows + r, w.rows);
  }
}

}  // namespace edgeasr
