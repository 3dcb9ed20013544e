// Dense int4 GEMM with VNNI for up to 32 activation rows, in register tiles (see kTileRows): each pair of blocks of a
// weight row is unpacked once per tile and serves kTileActRows activation rows, and the horizontal sums are taken
// four accumulators at a time (ReduceAdd4) instead of one full reduction per output.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

using namespace avx512;

// NR weight rows (row_bytes apart, from q) times MR rearranged activation rows (xr_bytes apart, from xr).
template <size_t NR, size_t MR>
void Tile(const uint8_t* q, size_t row_bytes, size_t full, bool odd, const int8_t* xr, size_t xr_bytes,
          const int32_t* offsets, int32_t* out, size_t stride) {
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512i a[MR][NR];
  for (auto& row : a)
    for (auto& v : row) v = _mm512_setzero_si512();
  for (size_t j = 0; j < full + odd; ++j) {
    __m512i lo[NR], hi[NR];
    for (size_t r = 0; r < NR; ++r) {
      const uint8_t* p = q + r * row_bytes + j * 64;
      const __m512i packed = j < full ? Load(p) : LoadQ4Half(p);
      lo[r] = _mm512_and_si512(packed, nibble);
      hi[r] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
    }
    for (size_t i = 0; i < MR; ++i) {
      const int8_t* xp = xr + i * xr_bytes + j * 128;
      const __m512i x_lo = Load(xp), x_hi = Load(xp + 64);
      for (size_t r = 0; r < NR; ++r) a[i][r] = Dpbusd(Dpbusd(a[i][r], lo[r], x_lo), hi[r], x_hi);
    }
  }
  for (size_t i = 0; i < MR; ++i) {
    alignas(16) int32_t sums[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(sums), ReduceAdd4(a[i], NR));
    for (size_t r = 0; r < NR; ++r) out[i * stride + r] = sums[r] - offsets[i];
  }
}

template <size_t NR>
void RowTile(const uint8_t* q, size_t row_bytes, size_t full, bool odd, const int8_t* xr, size_t xr_bytes, size_t m,
             const int32_t* offsets, int32_t* out, size_t stride) {
  size_t i = 0;
  for (; i + kTileActRows <= m; i += kTileActRows)
    Tile<NR, kTileActRows>(q, row_bytes, full, odd, xr + i * xr_bytes, xr_bytes, offsets + i, out + i * stride,
                           stride);
  for (; i < m; ++i)
    Tile<NR, 1>(q, row_bytes, full, odd, xr + i * xr_bytes, xr_bytes, offsets + i, out + i * stride, stride);
}

}  // namespace

void qs4_gemm__avx512(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  const size_t kp = w.padded_cols, row_bytes = kp / 2, full = (kp / kBlockCols) / 2, xr_bytes = Q4RearrangedBytes(kp);
  const bool odd = (kp / kBlockCols) % 2;
  thread_local std::vector<int8_t> xr;
  xr.resize(m * xr_bytes);
  int32_t offsets[kMaxGemmRows];
  for (size_t i = 0; i < m; ++i) {
    RearrangeForQ4(x + i * kp, kp, xr.data() + i * xr_bytes);
    int32_t sum = 0;
    for (size_t c = 0; c < kp; ++c) sum += x[i * kp + c];
    offsets[i] = kQ4Offset * sum;  // nibbles are stored with +8: take 8 * sum(x) back
  }
  const uint8_t* q = static_cast<const uint8_t*>(w.values);
  size_t r = row_begin;
  for (; r + kTileRows <= row_end; r += kTileRows)
    RowTile<kTileRows>(q + r * row_bytes, row_bytes, full, odd, xr.data(), xr_bytes, m, offsets, acc + r, w.rows);
  for (; r < row_end; ++r)
    RowTile<1>(q + r * row_bytes, row_bytes, full, odd, xr.data(), xr_bytes, m, offsets, acc + r, w.rows);
}

}  // namespace edgeasr
