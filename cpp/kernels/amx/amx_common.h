// Helpers for the AMX kernels (AMX-TILE + AMX-INT8: Sapphire Rapids and later). Static inline only.
//
// The tile product runs "weights times activations": A is 16 weight rows x 64 columns, loaded straight from the
// row-major weights with their row stride; B is the activations, packed so that row g holds, for each of 16
// activation rows, its 4 bytes at columns 4g..4g+3 ("VNNI layout"); C[i][j] = sum_k W[i][k] * x[j][k] in int32.
// TDPBSSD multiplies signed by signed bytes, so neither side needs a bias.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <vector>

#include "edgeasr/formats.h"

namespace edgeasr {
namespace amx {

constexpr size_t kTileM = 16;      // rows of every tile
constexpr size_t kTileBytes = 64;  // bytes per tile row

// Tile registers: 0 and 3 accumulate C, 1 and 4 hold weights (A) of two groups of 16 rows, 2 holds packed
// activations (B). Two weight groups per pass keep twice the loads in flight.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "AMX tile configuration is 64 bytes");

// Configures the three tiles for this thread; Release() hands the tile state back to the OS.
class TileScope {
 public:
  TileScope() {
    TileConfig config;
    for (int t = 0; t < 7; ++t) {
      config.colsb[t] = kTileBytes;
      config.rows[t] = kTileM;
    }
    _tile_loadconfig(&config);
  }
  ~TileScope() { _tile_release(); }
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;
};

// Packs activation rows [m0, m0 + 16) of x[m][kp] into B tiles, one per 64 columns (kp * 16 bytes in all);
// rows past m are zero. Row g of a tile gathers the 4 bytes at columns 4g..4g+3 of each of the 16 rows.
static inline void PackActivations(const int8_t* x, size_t m, size_t m0, size_t kp, int8_t* out) {
  const size_t rows = std::min(kTileM, m - m0);
  const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(static_cast<int>(kp)));
  const __mmask16 present = static_cast<__mmask16>((1u << rows) - 1);
  const int8_t* base = x + m0 * kp;
  for (size_t c = 0; c < kp; c += 4, out += kTileBytes)
    _mm512_store_si512(out, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), present, offsets, base + c, 1));
}

// Writes a 16 x 16 int32 C tile (weight row i, activation row j at c[i * 16 + j]) into acc[m][rows] for the
// first `cols` activation rows: column j of the tile is row j's run of 16 outputs.
static inline void ScatterTile(const int32_t* c, size_t cols, int32_t* acc, size_t stride) {
  const __m512i column = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(kTileM)));
  for (size_t j = 0; j < cols; ++j)
    _mm512_storeu_si512(acc + j * stride, _mm512_i32gather_epi32(column, c + j, 4));
}

}  // namespace amx
}  // namespace edgeasr
