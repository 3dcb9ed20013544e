// Sparse int8 GEMM on AMX tiles for up to 32 activation rows: vpexpandb reconstitutes each 16 x 64 weight
// tile's zeros in L1, and the tile serves every activation tile. Rows past the last full group of 16 go to the
// AVX-512 kernel.
#include "amx_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

struct SparseQ8Tiles {
  amx::SparseRows<int8_t> rows;

  void Start(size_t r) { rows.Start(r); }
  void Next(int8_t* tile) {
    for (size_t i = 0; i < amx::kTileM; ++i) {
      const uint64_t bits = rows.Bits(i);
      _mm512_store_si512(tile + i * amx::kTileBytes, avx512::ExpandQ8(rows.Mask(i), rows.p[i]));
      rows.p[i] += SparseBlockBytes(Format::kSparseQ8, static_cast<unsigned>(std::popcount(bits)));
    }
    ++rows.block;
  }
};

}  // namespace

void qs8_spmm__amx(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                   int32_t* acc) {
  const size_t groups = (row_end - row_begin) / amx::kTileM, full_end = row_begin + groups * amx::kTileM;
  SparseQ8Tiles decoder{amx::SparseRows<int8_t>(w)};
  if (groups) amx::DecodedGemm(decoder, w, x, m, row_begin, groups, acc);
  if (full_end < row_end) qs8_spmm__avx512(w, x, m, full_end, row_end, acc);
}

}  // namespace edgeasr
