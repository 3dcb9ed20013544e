// Decoding the storage formats back to dense int8 ("reconstituting the zeros") and float.
#include <bit>
#include <cstring>

#include "edgeasr/quantized_matrix.h"

namespace edgeasr {

WeightsView QuantizedMatrix::view() const {
  return WeightsView{format_,
                     rows_,
                     cols_,
                     padded_cols(),
                     values_.data(),
                     masks_.empty() ? nullptr : masks_.data(),
                     row_offsets_.empty() ? nullptr : row_offsets_.data(),
                     row_sums_.empty() ? nullptr : row_sums_.data()};
}

std::span<const uint8_t> QuantizedMatrix::values() const {
  const size_t stream = IsSparse(format_) ? row_offsets_.back() : values_.size();  // padding is not stored
  return {values_.data(), stream};
}

size_t QuantizedMatrix::nbytes() const {
  const size_t stream = IsSparse(format_) ? row_offsets_.back() : values_.size();  // padding is not storage
  return stream + masks_.size() * sizeof(SparseBlockMask) + row_offsets_.size() * sizeof(uint32_t) +
         scales_.size() * sizeof(float);
}

void QuantizedMatrix::DecodeInt8(int8_t* out) const {
  const size_t kp = padded_cols();
  const size_t blocks_per_row = kp / kBlockCols;
  for (size_t r = 0; r < rows_; ++r) {
    int8_t* row = out + r * cols_;
    switch (format_) {
      case Format::kDenseQ8:
        std::memcpy(row, values_.data() + r * kp, cols_);
        break;
      case Format::kDenseQ4: {
        const BlockQ4* blocks = reinterpret_cast<const BlockQ4*>(values_.data() + r * kp / 2);
        for (size_t c = 0; c < cols_; ++c) {
          const size_t i = c % kBlockCols;
          const uint8_t byte = blocks[c / kBlockCols].q[i % (kBlockCols / 2)];
          const int nib = i < kBlockCols / 2 ? (byte & 0x0F) : (byte >> 4);
          row[c] = static_cast<int8_t>(nib - kQ4Offset);
        }
        break;
      }
      case Format::kSparseQ8:
      case Format::kSparseQ4: {
        std::memset(row, 0, cols_);
        const uint8_t* p = values_.data() + row_offsets_[r];
        for (size_t b = 0; b < blocks_per_row; ++b) {
          const uint64_t bits = masks_[r * blocks_per_row + b].bits;
          unsigned n = 0;
          for (size_t i = 0; i < kBlockCols; ++i) {
            if (!((bits >> i) & 1)) continue;
            const int v = format_ == Format::kSparseQ8 ? static_cast<int8_t>(p[n])
                                                       : ((p[n / 2] >> (4 * (n % 2))) & 0x0F) - kQ4Offset;
            row[b * kBlockCols + i] = static_cast<int8_t>(v);  // bits beyond cols are never set
            ++n;
          }
          p += SparseBlockBytes(format_, static_cast<unsigned>(std::popcount(bits)));
        }
        break;
      }
    }
  }
}

void QuantizedMatrix::DecodeFloat(float* out) const {
  std::vector<int8_t> q(rows_ * cols_);
  DecodeInt8(q.data());
  for (size_t r = 0; r < rows_; ++r)
    for (size_t c = 0; c < cols_; ++c) out[r * cols_ + c] = scales_[r] * static_cast<float>(q[r * cols_ + c]);
}

}  // namespace edgeasr
