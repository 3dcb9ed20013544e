// Encoding integer or float weights into the storage formats.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "edgeasr/quantized_matrix.h"

namespace edgeasr {

const char* FormatName(Format f) {
  switch (f) {
    case Format::kDenseQ8: return "dense_q8";
    case Format::kDenseQ4: return "dense_q4";
    case Format::kSparseQ8: return "sparse_q8";
    case Format::kSparseQ4: return "sparse_q4";
  }
  return "unknown";
}

namespace {

void CheckFormat(Format f) {
  if (static_cast<unsigned>(f) > static_cast<unsigned>(Format::kSparseQ4))
    throw std::invalid_argument("format: unknown weight format " + std::to_string(static_cast<unsigned>(f)));
}

using Values = std::vector<uint8_t, WeightAllocator<uint8_t>>;
using Masks = std::vector<SparseBlockMask, WeightAllocator<SparseBlockMask>>;

void EncodeDense(Format f, const int8_t* q, size_t rows, size_t cols, Values& values) {
  const size_t kp = PaddedCols(cols);
  if (f == Format::kDenseQ8) {
    values.assign(rows * kp, 0);
    for (size_t r = 0; r < rows; ++r) std::copy(q + r * cols, q + (r + 1) * cols, values.begin() + r * kp);
    return;
  }
  // Q4: every nibble starts as "zero" (the offset), then each weight overwrites its nibble.
  values.assign(rows * kp / 2, static_cast<uint8_t>(kQ4Offset | (kQ4Offset << 4)));
  for (size_t r = 0; r < rows; ++r) {
    BlockQ4* blocks = reinterpret_cast<BlockQ4*>(values.data() + r * kp / 2);
    for (size_t c = 0; c < cols; ++c) {
      const size_t i = c % kBlockCols;
      uint8_t& byte = blocks[c / kBlockCols].q[i % (kBlockCols / 2)];
      const uint8_t nib = static_cast<uint8_t>(q[r * cols + c] + kQ4Offset);
      byte = (i < kBlockCols / 2) ? static_cast<uint8_t>((byte & 0xF0) | nib)
                                  : static_cast<uint8_t>((byte & 0x0F) | (nib << 4));
    }
  }
}

void EncodeSparse(Format f, const int8_t* q, size_t rows, size_t cols, Values& values, Masks& masks,
                  std::vector<uint32_t>& row_offsets) {
  const size_t blocks_per_row = PaddedCols(cols) / kBlockCols;
  masks.assign(rows * blocks_per_row, SparseBlockMask{0});
  row_offsets.assign(rows + 1, 0);
  values.clear();
  for (size_t r = 0; r < rows; ++r) {
    row_offsets[r] = static_cast<uint32_t>(values.size());
    for (size_t b = 0; b < blocks_per_row; ++b) {
      uint64_t bits = 0;
      unsigned n = 0;
      for (size_t i = 0; i < kBlockCols; ++i) {
        const size_t c = b * kBlockCols + i;
        const int8_t v = c < cols ? q[r * cols + c] : 0;
        if (v == 0) continue;
        bits |= uint64_t{1} << i;
        if (f == Format::kSparseQ8) {
          values.push_back(static_cast<uint8_t>(v));
        } else {
          const uint8_t nib = static_cast<uint8_t>(v + kQ4Offset);
          if (n % 2 == 0) values.push_back(nib);
          else values.back() = static_cast<uint8_t>(values.back() | (nib << 4));
        }
        ++n;
      }
      masks[r * blocks_per_row + b].bits = bits;
    }
    if (values.size() > std::numeric_limits<uint32_t>::max())
      throw std::invalid_argument("q: too many nonzeros for 32-bit row offsets");
  }
  row_offsets[rows] = static_cast<uint32_t>(values.size());
  values.resize(values.size() + kValuePadding, 0);
}

}  // namespace

QuantizedMatrix QuantizedMatrix::FromInt(Format format, const int8_t* q, size_t rows, size_t cols,
                                         const float* scales) {
  CheckFormat(format);
  if (rows == 0 || cols == 0) throw std::invalid_argument("q: matrix must have at least one row and one column");
  const int qmax = FormatQMax(format);
  size_t nonzeros = 0;
  for (size_t i = 0; i < rows * cols; ++i) {
    if (q[i] < -qmax || q[i] > qmax)
      throw std::invalid_argument("q: value " + std::to_string(q[i]) + " at flat index " + std::to_string(i) +
                                  " is outside [-" + std::to_string(qmax) + ", " + std::to_string(qmax) + "]");
    nonzeros += q[i] != 0;
  }
  for (size_t r = 0; r < rows; ++r)
    if (!std::isfinite(scales[r]) || scales[r] <= 0.0f)
      throw std::invalid_argument("scales: row " + std::to_string(r) + " has scale " + std::to_string(scales[r]) +
                                  "; scales must be finite and > 0");

  QuantizedMatrix m;
  m.format_ = format;
  m.rows_ = rows;
  m.cols_ = cols;
  m.nonzeros_ = nonzeros;
  m.scales_.assign(scales, scales + rows);
  if (IsSparse(format)) EncodeSparse(format, q, rows, cols, m.values_, m.masks_, m.row_offsets_);
  else EncodeDense(format, q, rows, cols, m.values_);
  return m;
}

QuantizedMatrix QuantizedMatrix::FromFloat(Format format, const float* w, size_t rows, size_t cols,
                                           const uint8_t* keep) {
  CheckFormat(format);
  const int qmax = FormatQMax(format);
  std::vector<int8_t> q(rows * cols);
  std::vector<float> scales(rows);
  for (size_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (size_t c = 0; c < cols; ++c) {
      const size_t i = r * cols + c;
      if (!std::isfinite(w[i]))
        throw std::invalid_argument("w: non-finite value at row " + std::to_string(r) + ", column " +
                                    std::to_string(c));
      if (!keep || keep[i]) amax = std::max(amax, std::fabs(w[i]));
    }
    // A row whose step would underflow (all |w| below ~1e-36) is stored as zeros with scale 1.
    const float step = amax / static_cast<float>(qmax);
    const float scale = step >= std::numeric_limits<float>::min() ? step : 1.0f;
    scales[r] = scale;
    for (size_t c = 0; c < cols; ++c) {
      const size_t i = r * cols + c;
      const long v = (!keep || keep[i]) ? std::lround(w[i] / scale) : 0;
      q[i] = static_cast<int8_t>(std::clamp<long>(v, -qmax, qmax));
    }
  }
  return FromInt(format, q.data(), rows, cols, scales.data());
}

void MagnitudeKeepMask(const float* w, size_t n, double sparsity, uint8_t* out) {
  if (!(sparsity >= 0.0 && sparsity <= 1.0))
    throw std::invalid_argument("sparsity: must lie in [0, 1], got " + std::to_string(sparsity));
  const size_t drop = static_cast<size_t>(std::llround(sparsity * static_cast<double>(n)));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::fill(out, out + n, uint8_t{1});
  if (drop == 0) return;
  auto smaller = [w](size_t a, size_t b) {
    const float fa = std::fabs(w[a]), fb = std::fabs(w[b]);
    return fa < fb || (fa == fb && a < b);
  };
  std::nth_element(order.begin(), order.begin() + (drop - 1), order.end(), smaller);
  for (size_t i = 0; i < drop; ++i) out[order[i]] = 0;
}

}  // namespace edgeasr
