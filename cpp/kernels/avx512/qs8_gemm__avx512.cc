// Dense int8 GEMM with VNNI for up to 32 activation rows, in register tiles (see kTileRows): the bias of the
// biased activations is computed once per weight row and shared by every activation tile.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

using namespace avx512;

template <size_t NR, size_t MR>
void Tile(const int8_t* q, size_t kp, const uint8_t* xb, const int32_t* bias, int32_t* out, size_t stride) {
  __m512i a[MR][NR];
  for (auto& row : a)
    for (auto& v : row) v = _mm512_setzero_si512();
  for (size_t c = 0; c < kp; c += 64) {
    __m512i wv[NR];
    for (size_t j = 0; j < NR; ++j) wv[j] = Load(q + j * kp + c);
    for (size_t i = 0; i < MR; ++i) {
      const __m512i xv = Load(xb + i * kp + c);
      for (size_t j = 0; j < NR; ++j) a[i][j] = Dot(a[i][j], xv, wv[j]);
    }
  }
  StoreTile<NR, MR>(a, bias, out, stride);
}

template <size_t NR>
void RowTile(const int8_t* q, size_t kp, const uint8_t* xb, size_t m, int32_t* out, size_t stride) {
  int32_t bias[NR];
  for (size_t j = 0; j < NR; ++j) {
    __m512i b = _mm512_setzero_si512();
    for (size_t c = 0; c < kp; c += 64) b = BiasDot(b, Load(q + j * kp + c));
    bias[j] = _mm512_reduce_add_epi32(b);
  }
  size_t i = 0;
  for (; i + kTileActRows <= m; i += kTileActRows)
    Tile<NR, kTileActRows>(q, kp, xb + i * kp, bias, out + i * stride, stride);
  for (; i < m; ++i) Tile<NR, 1>(q, kp, xb + i * kp, bias, out + i * stride, stride);
}

}  // namespace

void qs8_gemm__avx512(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  const size_t kp = w.padded_cols;
  thread_local std::vector<uint8_t> biased;
  const uint8_t* xb = BiasedRow(x, m * kp, biased);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  size_t r = row_begin;
  for (; r + kTileRows <= row_end; r += kTileRows) RowTile<kTileRows>(q + r * kp, kp, xb, m, acc + r, w.rows);
  for (; r < row_end; ++r) RowTile<1>(q + r * kp, kp, xb, m, acc + r, w.rows);
}

}  // namespace edgeasr
