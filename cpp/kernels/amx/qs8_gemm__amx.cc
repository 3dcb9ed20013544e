// Dense int8 GEMM on AMX tiles for up to 32 activation rows: per group of 16 weight rows, one tile product per
// 16 activation rows and 64 columns, weights loaded straight from their row-major storage. Rows past the last
// full group of 16 go to the AVX-512 kernel.
#include "amx_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

void qs8_gemm__amx(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                   int32_t* acc) {
  using namespace amx;
  const size_t kp = w.padded_cols;
  const size_t full_end = row_begin + (row_end - row_begin) / kTileM * kTileM;
  if (full_end > row_begin) {
    const size_t m_tiles = (m + kTileM - 1) / kTileM;
    thread_local std::vector<int8_t> packed_storage;
    packed_storage.resize(m_tiles * kp * kTileM + 64);
    int8_t* packed = packed_storage.data() + (64 - reinterpret_cast<uintptr_t>(packed_storage.data()) % 64) % 64;
    for (size_t t = 0; t < m_tiles; ++t) PackActivations(x, m, t * kTileM, kp, packed + t * kp * kTileM);
    alignas(64) int32_t c[kTileM * kTileM];
    const int8_t* q = static_cast<const int8_t*>(w.values);
    TileScope tiles;
    size_t r = row_begin;
    for (; r + 4 * kTileM <= full_end; r += 4 * kTileM) {
      for (size_t t = 0; t < m_tiles; ++t) {  // a second activation tile finds these weight rows in L1
        const int8_t* b = packed + t * kp * kTileM;
        _tile_zero(0);
        _tile_zero(3);
        _tile_zero(5);
        _tile_zero(6);
        const long s = static_cast<long>(kp);
        for (size_t c0 = 0; c0 < kp; c0 += kTileBytes) {
          const int8_t* a = q + r * kp + c0;
          _tile_loadd(2, b + c0 * kTileM, static_cast<long>(kTileBytes));
          _tile_loadd(1, a, s);
          _tile_loadd(4, a + kTileM * kp, s);
          _tile_dpbssd(0, 1, 2);
          _tile_dpbssd(3, 4, 2);
          _tile_loadd(1, a + 2 * kTileM * kp, s);
          _tile_loadd(4, a + 3 * kTileM * kp, s);
          _tile_dpbssd(5, 1, 2);
          _tile_dpbssd(6, 4, 2);
        }
        const size_t cols = std::min(kTileM, m - t * kTileM);
        int32_t* out = acc + t * kTileM * w.rows + r;
        _tile_stored(0, c, static_cast<long>(kTileM * sizeof(int32_t)));
        ScatterTile(c, cols, out, w.rows);
        _tile_stored(3, c, static_cast<long>(kTileM * sizeof(int32_t)));
        ScatterTile(c, cols, out + kTileM, w.rows);
        _tile_stored(5, c, static_cast<long>(kTileM * sizeof(int32_t)));
        ScatterTile(c, cols, out + 2 * kTileM, w.rows);
        _tile_stored(6, c, static_cast<long>(kTileM * sizeof(int32_t)));
        ScatterTile(c, cols, out + 3 * kTileM, w.rows);
      }
    }
    for (; r < full_end; r += kTileM) {
      for (size_t t = 0; t < m_tiles; ++t) {
        const int8_t* b = packed + t * kp * kTileM;
        _tile_zero(0);
        for (size_t c0 = 0; c0 < kp; c0 += kTileBytes) {
          _tile_loadd(1, q + r * kp + c0, static_cast<long>(kp));
          _tile_loadd(2, b + c0 * kTileM, static_cast<long>(kTileBytes));
          _tile_dpbssd(0, 1, 2);
        }
        _tile_stored(0, c, static_cast<long>(kTileM * sizeof(int32_t)));
        ScatterTile(c, std::min(kTileM, m - t * kTileM), acc + t * kTileM * w.rows + r, w.rows);
      }
    }
  }
  if (full_end < row_end) qs8_gemm__avx512(w, x, m, full_end, row_end, acc);
}

}  // namespace edgeasr
