// Weight storage formats shared by the codec, the kernels and the model file.
//
// Every format stores a weight matrix W of shape [rows, cols] (one row per output), with one float scale per row:
//   W[r][c] ≈ scale[r] * q[r][c], q symmetric (int8 in [-127, 127], int4 in [-7, 7]).
// Columns are padded with zeros to a multiple of kBlockCols, so kernels never handle a ragged tail.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgeasr {

// Columns per block, in every format. Activations are padded to the same multiple.
constexpr size_t kBlockCols = 64;
// Bytes a sparse value stream carries past its end, so kernels may load a whole vector from any value position.
constexpr size_t kValuePadding = 64;

constexpr int kQ8Max = 127;  // int8 weights and activations use [-127, 127]: no -128, so |a*b| sums fit int16 pairs
constexpr int kQ4Max = 7;    // int4 weights use [-7, 7], stored offset by kQ4Offset
constexpr int kQ4Offset = 8;

enum class Format : uint8_t {
  kDenseQ8 = 0,   // BlockQ8 per block, row-major
  kDenseQ4 = 1,   // BlockQ4 per block, row-major
  kSparseQ8 = 2,  // SparseBlockMask per block + packed int8 nonzeros
  kSparseQ4 = 3,  // SparseBlockMask per block + packed int4 nonzeros, each block byte-aligned
};

// Dense int8: 64 consecutive weights of one row.
struct BlockQ8 {
  int8_t q[kBlockCols];  // q[i] = weight of column (block*64 + i)
};
static_assert(sizeof(BlockQ8) == 64, "BlockQ8 is 64 bytes");

// Dense int4: 64 weights of one row in 32 bytes. Splitting the block in halves (not interleaving neighbours) lets
// a 256-bit kernel unpack it with one mask and one shift.
struct BlockQ4 {
  uint8_t q[kBlockCols / 2];  // low nibble: weight i + 8; high nibble: weight (i + 32) + 8
};
static_assert(sizeof(BlockQ4) == 32, "BlockQ4 is 32 bytes");

// Sparse: one bit per weight of a 64-column block; the nonzero values live in a separate packed stream.
struct SparseBlockMask {
  uint64_t bits;  // bit i set <=> weight of column (block*64 + i) is nonzero
};
static_assert(sizeof(SparseBlockMask) == 8, "SparseBlockMask is 8 bytes");

// Sparse value streams hold, per row and block in column order, the block's nonzeros in column order:
//   kSparseQ8: one int8 per set bit.
//   kSparseQ4: ceil(n/2) bytes for a block with n set bits; value 2j in the low nibble of byte j, value 2j+1 in
//              the high nibble, each stored + 8. Byte-aligned blocks cost at most half a byte per 64 columns and
//              let a kernel find each block without nibble shifts.
// row_offsets[r] is the byte offset of row r's values; row_offsets[rows] is the stream's length before padding.

// Bytes that one block with n nonzeros takes in the value stream.
constexpr size_t SparseBlockBytes(Format f, unsigned n) { return f == Format::kSparseQ4 ? (n + 1) / 2 : n; }

constexpr size_t PaddedCols(size_t cols) { return (cols + kBlockCols - 1) / kBlockCols * kBlockCols; }

constexpr bool IsSparse(Format f) { return f == Format::kSparseQ8 || f == Format::kSparseQ4; }
constexpr int FormatBits(Format f) { return (f == Format::kDenseQ4 || f == Format::kSparseQ4) ? 4 : 8; }
constexpr int FormatQMax(Format f) { return FormatBits(f) == 4 ? kQ4Max : kQ8Max; }

const char* FormatName(Format f);

// A read-only view of one encoded matrix: what every kernel receives.
struct WeightsView {
  Format format;
  size_t rows;
  size_t cols;         // logical columns
  size_t padded_cols;  // PaddedCols(cols)
  const void* values;  // dense: rows * padded_cols (Q8) or rows * padded_cols / 2 bytes (Q4); sparse: the stream
  const SparseBlockMask* masks;  // sparse only: rows * padded_cols / 64
  const uint32_t* row_offsets;   // sparse only: rows + 1
  // Dense int8 only, else null (and null in views built by hand): sum_c q[r][c] per row, so that a kernel which
  // feeds activations as x + 128 (vpdpbusd's unsigned operand) can take out the 128 * sum(w) once per row.
  const int32_t* row_sums = nullptr;
};

}  // namespace edgeasr
