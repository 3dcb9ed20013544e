// An encoded weight matrix in one of the formats of formats.h, owning its buffers.
#pragma once

#include <cstddef>
#include <cstdint>
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

  Format format() const { return format_; }
  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  size_t padded_cols() const { return PaddedCols(cols_); }
  const std::vector<float>& scales() const { return scales_; }
  WeightsView view() const;

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
};

// Keep-mask that drops the fraction `sparsity` of weights with the smallest magnitude (ties broken by position).
// out has rows*cols entries; 1 = keep. sparsity must lie in [0, 1].
void MagnitudeKeepMask(const float* w, size_t n, double sparsity, uint8_t* out);

}  // namespace edgeasr
