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

#include "../avx512/avx512_common.h"
#include "edgeasr/formats.h"
#include "edgeasr/kernels.h"

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

// GEMM for formats that are not int8 row-major: a Decoder writes each 16 x 64 weight tile as int8 into an
// L1-resident buffer ("reconstituting the zeros", as the accelerator does when it loads weights), which then
// serves every activation tile. Decoding runs one chunk ahead of the tile loads, so the tile unit never waits
// for stores it has to read. Covers rows [row_begin, row_begin + 16 * groups).
//   Decoder::Start(r): the next tiles are rows r..r+15;  Decoder::Next(int8_t* tile): writes the next 64 columns.
template <class Decoder>
static inline void DecodedGemm(Decoder& decoder, const WeightsView& w, const int8_t* x, size_t m, size_t row_begin,
                               size_t groups, int32_t* acc) {
  const size_t kp = w.padded_cols, chunks = kp / kTileBytes;
  const size_t m_tiles = (m + kTileM - 1) / kTileM;  // 1 or 2
  thread_local std::vector<int8_t> packed_storage;
  packed_storage.resize(m_tiles * kp * kTileM + 64);
  int8_t* packed = packed_storage.data() + (64 - reinterpret_cast<uintptr_t>(packed_storage.data()) % 64) % 64;
  for (size_t t = 0; t < m_tiles; ++t) PackActivations(x, m, t * kTileM, kp, packed + t * kp * kTileM);
  alignas(64) int8_t tiles[2][kTileM * kTileBytes];
  alignas(64) int32_t c[kTileM * kTileM];
  TileScope scope;
  for (size_t g = 0; g < groups; ++g) {
    const size_t r = row_begin + g * kTileM;
    decoder.Start(r);
    decoder.Next(tiles[0]);
    _tile_zero(0);
    _tile_zero(3);
    for (size_t k = 0; k < chunks; ++k) {
      if (k + 1 < chunks) decoder.Next(tiles[(k + 1) % 2]);
      _tile_loadd(1, tiles[k % 2], static_cast<long>(kTileBytes));
      _tile_loadd(2, packed + k * kTileBytes * kTileM, static_cast<long>(kTileBytes));
      _tile_dpbssd(0, 1, 2);
      if (m_tiles > 1) {
        _tile_loadd(4, packed + kp * kTileM + k * kTileBytes * kTileM, static_cast<long>(kTileBytes));
        _tile_dpbssd(3, 1, 4);
      }
    }
    _tile_stored(0, c, static_cast<long>(kTileM * sizeof(int32_t)));
    ScatterTile(c, std::min(kTileM, m), acc + r, w.rows);
    if (m_tiles > 1) {
      _tile_stored(3, c, static_cast<long>(kTileM * sizeof(int32_t)));
      ScatterTile(c, m - kTileM, acc + kTileM * w.rows + r, w.rows);
    }
  }
}

// The AMX GEMM of a sparse format: 16 per-row cursors walk the value stream block by block, and `expand(mask, p)`
// turns one block of one row into 64 int8 weights (zeros in place) for the tile. Rows past the last full group
// of 16 go to `tail` (the AVX-512 kernel of the same format).
template <Format F, typename T, class Expand>
static inline void SparseGemm(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                              int32_t* acc, Expand expand, MatmulKernel tail) {
  struct Tiles {
    const WeightsView& w;
    Expand expand;
    size_t blocks, block = 0, row = 0;
    const T* p[kTileM] = {};
    void Start(size_t r) {
      row = r, block = 0;
      for (size_t i = 0; i < kTileM; ++i) p[i] = static_cast<const T*>(w.values) + w.row_offsets[r + i];
    }
    void Next(int8_t* tile) {
      for (size_t i = 0; i < kTileM; ++i) {
        const SparseBlockMask* mask = &w.masks[(row + i) * blocks + block];
        _mm512_store_si512(tile + i * kTileBytes, expand(mask, p[i]));
        p[i] += SparseBlockBytes(F, static_cast<unsigned>(std::popcount(mask->bits)));
      }
      ++block;
    }
  };
  const size_t groups = (row_end - row_begin) / kTileM, full_end = row_begin + groups * kTileM;
  Tiles tiles{w, expand, w.padded_cols / kBlockCols};
  if (groups) DecodedGemm(tiles, w, x, m, row_begin, groups, acc);
  if (full_end < row_end) tail(w, x, m, full_end, row_end, acc);
}

}  // namespace amx
}  // namespace edgeasr
