// Dense int4 GEMM on AMX tiles for up to 32 activation rows: each 16 x 64 weight tile is unpacked to int8 in L1
// and serves every activation tile. Rows past the last full group of 16 go to the AVX-512 kernel.
#include "amx_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

struct DenseQ4Tiles {
  const WeightsView& w;
  const uint8_t* row0 = nullptr;
  size_t block = 0;

  void Start(size_t r) { row0 = static_cast<const uint8_t*>(w.values) + r * (w.padded_cols / 2), block = 0; }
  void Next(int8_t* tile) {
    const __m512i m = _mm512_set1_epi8(0x0F), offset = _mm512_set1_epi8(kQ4Offset);
    for (size_t i = 0; i < amx::kTileM; ++i) {
      const __m256i b = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(row0 + i * (w.padded_cols / 2) + block * sizeof(BlockQ4)));
      const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(b), _mm256_srli_epi16(b, 4), 1);
      _mm512_store_si512(tile + i * amx::kTileBytes, _mm512_sub_epi8(_mm512_and_si512(both, m), offset));
    }
    ++block;
  }
};

}  // namespace

void qs4_gemm__amx(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                   int32_t* acc) {
  const size_t groups = (row_end - row_begin) / amx::kTileM, full_end = row_begin + groups * amx::kTileM;
  DenseQ4Tiles decoder{w};
  if (groups) amx::DecodedGemm(decoder, w, x, m, row_begin, groups, acc);
  if (full_end < row_end) qs4_gemm__avx512(w, x, m, full_end, row_end, acc);
}

}  // namespace edgeasr
