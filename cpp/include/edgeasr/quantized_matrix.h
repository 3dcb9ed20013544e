// An encoded weight matrix in one of the formats of formats.h, owning its buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "edgeasr/formats.h"
#include "edgeasr/weight_allocator.h"

namespace edgeasr {

class QuantizedMatrix {
 public:
  // Encodes integer weights q[rows][cols] (row-major) with one scale per row. Every q must lie within the
  // format's range ([-127, 127] or [-7, 7]) and every scale must be finite and > 0; otherwise throws
  // std::invalid_argument. Sparse formats store exactly the nonzero q.
  static QuantizedMatrix FromInt(Format format, const int8_t* q, size_t rows, size_t cols, const float* scales);

  // Quantizes float weights w[rows][cols] symmetrically per row (scale = max|w| / qmax, round to nearest).
  // keep (same shape, nonzero = keep) zeroes the weights it drops before quantizing; null keeps all.
  // Non-finite weights throw std::invalid_argument. An all-zero row, or one too small to scale (max |w| below
  // 127 * FLT_MIN), is stored as zeros with scale 1.
  static QuantizedMatrix FromFloat(Format format, const float* w, size_t rows, size_t cols, const uint8_t* keep);

  // Rebuilds a matrix from its stored parts (those of values(), masks(), row_offsets() and scales()), which may
  // come from a hostile file: every invariant the kernels and decoders rely on is checked, and any violation
  // throws std::invalid_argument. Dense formats take empty masks and row_offsets. `values` is the value stream
  // without kValuePadding; FromParts adds the padding itself. Beyond the format's rules it demands the canonical
  // form the encoders write: rows and cols in [1, kMaxPartsDim]; no -128; int4 nibbles in [1, 15] (zero is 8);
  // dense padding columns zero; sparse: no mask bit at or past cols, no stored zero under a set bit, and the
  // unused high nibble of an int4 block with an odd count zero.
  static QuantizedMatrix FromParts(Format format, size_t rows, size_t cols, std::span<const float> scales,
                                   std::span<const uint8_t> values, std::span<const uint64_t> masks,
                                   std::span<const uint32_t> row_offsets);
  // Bound on rows and cols in FromParts: keeps every size product far from overflow and the kernels' int offsets.
  static constexpr size_t kMaxPartsDim = size_t{1} << 24;

  Format format() const { return format_; }
  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  size_t padded_cols() const { return PaddedCols(cols_); }
  const std::vector<float>& scales() const { return scales_; }
  WeightsView view() const;

  // The stored parts, as FromParts takes them. values: dense blocks, or the sparse stream without its padding.
  // masks and row_offsets are empty for dense formats.
  std::span<const uint8_t> values() const;
  std::span<const SparseBlockMask> masks() const { return {masks_.data(), masks_.size()}; }
  std::span<const uint32_t> row_offsets() const { return {row_offsets_.data(), row_offsets_.size()}; }

  // Weights that are not zero (padding excluded).
  size_t nonzeros() const { return nonzeros_; }
  // Bytes of storage: values, bitmaps, row offsets and scales (what a model file carries for this matrix).
  size_t nbytes() const;

  // Reconstitutes the zeros: out[rows][cols] receives the int8 weights.
  void DecodeInt8(int8_t* out) const;
  // out[rows][cols] receives scale[r] * q[r][c].
  void DecodeFloat(float* out) const;

 private:
  Format format_ = Format::kDenseQ8;
  size_t rows_ = 0, cols_ = 0, nonzeros_ = 0;
  std::vector<float> scales_;
  std::vector<uint8_t, WeightAllocator<uint8_t>> values_;
  std::vector<SparseBlockMask, WeightAllocator<SparseBlockMask>> masks_;
  std::vector<uint32_t> row_offsets_;
  std::vector<int32_t> row_sums_;  // dense int8 only (WeightsView::row_sums); not part of the stored parts
};

// Keep-mask that drops the fraction `sparsity` of weights with the smallest magnitude (ties broken by position).
// out has rows*cols entries; 1 = keep. sparsity must lie in [0, 1].
void MagnitudeKeepMask(const float* w, size_t n, double sparsity, uint8_t* out);

}  // namespace edgeasr
