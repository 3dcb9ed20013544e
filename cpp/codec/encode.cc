// Encoding integer or float weights into the storage formats, and rebuilding a matrix from stored parts.
#include <algorithm>
#include <bit>
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

std::string Str(size_t v) { return std::to_string(v); }

// Column (within its block) of the j-th set bit of `bits`, for error messages.
size_t NthSetBit(uint64_t bits, unsigned j) {
  for (unsigned i = 0; i < j; ++i) bits &= bits - 1;
  return static_cast<size_t>(std::countr_zero(bits));
}

// Per-row sums of dense int8 values (padding columns are zero): WeightsView::row_sums.
std::vector<int32_t> DenseQ8RowSums(const uint8_t* values, size_t rows, size_t padded_cols) {
  std::vector<int32_t> sums(rows, 0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < padded_cols; ++c) sums[r] += static_cast<int8_t>(values[r * padded_cols + c]);
  return sums;
}

// The checks of FromParts on dense values; returns the nonzero count.
size_t CheckDenseValues(Format f, size_t rows, size_t cols, std::span<const uint8_t> values) {
  const size_t kp = PaddedCols(cols);
  size_t nonzeros = 0;
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < kp; ++c) {
      int v;
      if (f == Format::kDenseQ8) {
        v = static_cast<int8_t>(values[r * kp + c]);
        if (v < -kQ8Max)
          throw std::invalid_argument("values: row " + Str(r) + ", column " + Str(c) +
                                      " holds -128, outside the int8 weight range [-127, 127]");
      } else {
        const size_t i = c % kBlockCols;
        const uint8_t byte = values[r * kp / 2 + (c / kBlockCols) * sizeof(BlockQ4) + i % (kBlockCols / 2)];
        const int nib = i < kBlockCols / 2 ? (byte & 0x0F) : (byte >> 4);
        if (nib == 0)
          throw std::invalid_argument("values: row " + Str(r) + ", column " + Str(c) +
                                      " holds nibble 0 (weight -8), outside the int4 weight range [-7, 7]");
        v = nib - kQ4Offset;
      }
      if (c >= cols && v != 0)
        throw std::invalid_argument("values: row " + Str(r) + ", padding column " + Str(c) + " (cols is " +
                                    Str(cols) + ") holds weight " + std::to_string(v) + "; padding must be zero");
      nonzeros += v != 0;
    }
  return nonzeros;
}

// The checks of FromParts on sparse masks and row offsets: together they must account for every stream byte.
void CheckSparseLayout(Format f, size_t rows, size_t cols, std::span<const uint64_t> masks,
                       std::span<const uint32_t> row_offsets, size_t num_values) {
  const size_t blocks = PaddedCols(cols) / kBlockCols;
  if (masks.size() != rows * blocks)
    throw std::invalid_argument("masks: expected " + Str(rows * blocks) + " (rows " + Str(rows) + " x blocks " +
                                Str(blocks) + "), got " + Str(masks.size()));
  if (row_offsets.size() != rows + 1)
    throw std::invalid_argument("row_offsets: expected rows + 1 = " + Str(rows + 1) + " entries, got " +
                                Str(row_offsets.size()));
  if (row_offsets[0] != 0)
    throw std::invalid_argument("row_offsets: must start at 0, got " + Str(row_offsets[0]));
  const size_t tail = cols - (blocks - 1) * kBlockCols;  // columns in use in the last block: 1..64
  const uint64_t beyond = tail == kBlockCols ? 0 : ~uint64_t{0} << tail;
  for (size_t r = 0; r < rows; ++r) {
    size_t need = 0;
    for (size_t b = 0; b < blocks; ++b) {
      const uint64_t bits = masks[r * blocks + b];
      if (b + 1 == blocks && (bits & beyond))
        throw std::invalid_argument("masks: row " + Str(r) + " sets the bit of column " +
                                    Str(b * kBlockCols + std::countr_zero(bits & beyond)) +
                                    ", at or past cols (" + Str(cols) + ")");
      need += SparseBlockBytes(f, static_cast<unsigned>(std::popcount(bits)));
    }
    const uint32_t begin = row_offsets[r], end = row_offsets[r + 1];
    if (end < begin || end - begin != need)
      throw std::invalid_argument("row_offsets: row " + Str(r) + " spans bytes [" + Str(begin) + ", " + Str(end) +
                                  ") but its masks need " + Str(need) + " bytes");
  }
  if (num_values != row_offsets[rows])
    throw std::invalid_argument("values: the stream must hold row_offsets[rows] = " + Str(row_offsets[rows]) +
                                " bytes (without padding), got " + Str(num_values));
}

// The checks of FromParts on a sparse value stream whose layout CheckSparseLayout accepted; returns the nonzeros.
size_t CheckSparseValues(Format f, size_t rows, size_t cols, std::span<const uint64_t> masks,
                         std::span<const uint32_t> row_offsets, std::span<const uint8_t> values) {
  const size_t blocks = PaddedCols(cols) / kBlockCols;
  size_t nonzeros = 0;
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t* p = values.data() + row_offsets[r];
    for (size_t b = 0; b < blocks; ++b) {
      const uint64_t bits = masks[r * blocks + b];
      const unsigned n = static_cast<unsigned>(std::popcount(bits));
      for (unsigned j = 0; j < n; ++j) {
        const int nib = (p[j / 2] >> (4 * (j % 2))) & 0x0F;
        const int v = f == Format::kSparseQ8 ? static_cast<int8_t>(p[j]) : nib - kQ4Offset;
        const std::string where = "values: row " + Str(r) + ", column " + Str(b * kBlockCols + NthSetBit(bits, j));
        if (v == 0) throw std::invalid_argument(where + " holds zero under a set mask bit");
        if (f == Format::kSparseQ8 && v < -kQ8Max)
          throw std::invalid_argument(where + " holds -128, outside the int8 weight range [-127, 127]");
        if (f == Format::kSparseQ4 && nib == 0)
          throw std::invalid_argument(where + " holds nibble 0 (weight -8), outside the int4 weight range [-7, 7]");
      }
      if (f == Format::kSparseQ4 && n % 2 == 1 && (p[n / 2] >> 4) != 0)
        throw std::invalid_argument("values: row " + Str(r) + ", block " + Str(b) +
                                    ": the unused high nibble of its last byte must be zero");
      p += SparseBlockBytes(f, n);
      nonzeros += n;
    }
  }
  return nonzeros;
}

}  // namespace

QuantizedMatrix QuantizedMatrix::FromParts(Format format, size_t rows, size_t cols, std::span<const float> scales,
                                           std::span<const uint8_t> values, std::span<const uint64_t> masks,
                                           std::span<const uint32_t> row_offsets) {
  CheckFormat(format);
  if (rows == 0 || cols == 0 || rows > kMaxPartsDim || cols > kMaxPartsDim)
    throw std::invalid_argument("shape: rows and cols must lie in [1, " + Str(kMaxPartsDim) + "], got " + Str(rows) +
                                " x " + Str(cols));
  if (scales.size() != rows)
    throw std::invalid_argument("scales: expected one per row (" + Str(rows) + "), got " + Str(scales.size()));
  for (size_t r = 0; r < rows; ++r)
    if (!std::isfinite(scales[r]) || scales[r] <= 0.0f)
      throw std::invalid_argument("scales: row " + Str(r) + " has scale " + std::to_string(scales[r]) +
                                  "; scales must be finite and > 0");
  QuantizedMatrix m;
  m.format_ = format;
  m.rows_ = rows;
  m.cols_ = cols;
  m.scales_.assign(scales.begin(), scales.end());
  if (!IsSparse(format)) {
    if (!masks.empty() || !row_offsets.empty())
      throw std::invalid_argument(std::string("masks: the dense format ") + FormatName(format) +
                                  " has no masks or row_offsets, got " + Str(masks.size()) + " and " +
                                  Str(row_offsets.size()));
    const size_t row_bytes = format == Format::kDenseQ8 ? PaddedCols(cols) : PaddedCols(cols) / 2;
    if (values.size() != rows * row_bytes)
      throw std::invalid_argument(std::string("values: ") + FormatName(format) + " needs " + Str(rows) + " rows x " +
                                  Str(row_bytes) + " bytes = " + Str(rows * row_bytes) + ", got " +
                                  Str(values.size()));
    m.nonzeros_ = CheckDenseValues(format, rows, cols, values);
    m.values_.assign(values.begin(), values.end());
    if (format == Format::kDenseQ8) m.row_sums_ = DenseQ8RowSums(m.values_.data(), rows, PaddedCols(cols));
    return m;
  }
  CheckSparseLayout(format, rows, cols, masks, row_offsets, values.size());
  m.nonzeros_ = CheckSparseValues(format, rows, cols, masks, row_offsets, values);
  m.masks_.resize(masks.size());
  for (size_t i = 0; i < masks.size(); ++i) m.masks_[i].bits = masks[i];
  m.row_offsets_.assign(row_offsets.begin(), row_offsets.end());
  m.values_.reserve(values.size() + kValuePadding);
  m.values_.assign(values.begin(), values.end());
  m.values_.resize(values.size() + kValuePadding, 0);  // the kernels' over-read room
  return m;
}

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
  if (format == Format::kDenseQ8) m.row_sums_ = DenseQ8RowSums(m.values_.data(), rows, PaddedCols(cols));
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
