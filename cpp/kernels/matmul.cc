#include "edgeasr/matmul.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace edgeasr {

// Cloned for AVX2 (chosen by the loader on CPUs that have it): 8-wide instead of 4-wide conversion.
#if EDGEASR_X86
__attribute__((target_clones("avx2", "default")))
#endif
void QuantizeActivations(const float* x, size_t m, size_t cols, size_t padded_cols, int8_t* xq, float* scales) {
  for (size_t i = 0; i < m; ++i) {
    const float* row = x + i * cols;
    // max |x| on the bit patterns: for non-negative floats their order is the integers' order, so the loop
    // vectorizes without fast-math, and NaN or infinity (exponent all ones) shows up as a pattern >= 0x7F800000.
    uint32_t amax_bits = 0;
    for (size_t c = 0; c < cols; ++c) amax_bits = std::max(amax_bits, std::bit_cast<uint32_t>(row[c]) & 0x7FFFFFFFu);
    if (amax_bits >= 0x7F800000u)
      throw std::invalid_argument("x: contains NaN or infinity (row " + std::to_string(i) + ")");
    // A row whose step would underflow (all |x| below ~1e-36) quantizes to zeros with scale 1.
    const float step = std::bit_cast<float>(amax_bits) / static_cast<float>(kQ8Max);
    const float scale = step >= std::numeric_limits<float>::min() ? step : 1.0f;
    const float inv = step >= std::numeric_limits<float>::min() ? 1.0f / scale : 0.0f;
    int8_t* out = xq + i * padded_cols;
    // Round half away from zero. |v| <= 127 (+ rounding error, < 127.5) by construction of the scale, so no clamp;
    // copysign keeps the loop free of branches and vectorized.
    for (size_t c = 0; c < cols; ++c) {
      const float v = row[c] * inv;
      out[c] = static_cast<int8_t>(static_cast<int32_t>(v + std::copysign(0.5f, v)));
    }
    std::fill(out + cols, out + padded_cols, int8_t{0});
    scales[i] = scale;
  }
}

void MatmulInt32(const WeightsView& w, const int8_t* xq, size_t m, int32_t* acc, const KernelSet& kernels) {
  const int f = static_cast<int>(w.format);
  if (m == 1) {
    kernels.gemv[f](w, xq, 1, 0, w.rows, acc);
    return;
  }
  for (size_t i = 0; i < m; i += kMaxGemmRows) {
    const size_t chunk = std::min(kMaxGemmRows, m - i);
    kernels.gemm[f](w, xq + i * w.padded_cols, chunk, 0, w.rows, acc + i * w.rows);
  }
}

#if EDGEASR_X86
__attribute__((target_clones("avx2", "default")))  // the scaling epilogue, 8-wide
#endif
void Matmul(const QuantizedMatrix& w, const float* x, size_t m, float* y, const KernelSet& kernels) {
  // Scratch lives per thread: streams decode on several threads, and a hot path should not allocate.
  thread_local std::vector<int8_t> xq;
  thread_local std::vector<float> xscale;
  thread_local std::vector<int32_t> acc;
  const WeightsView v = w.view();
  xq.resize(m * v.padded_cols);
  xscale.resize(m);
  acc.resize(m * v.rows);
  QuantizeActivations(x, m, v.cols, v.padded_cols, xq.data(), xscale.data());
  MatmulInt32(v, xq.data(), m, acc.data(), kernels);
  const float* wscale = w.scales().data();
  for (size_t i = 0; i < m; ++i)
    for (size_t r = 0; r < v.rows; ++r)
      y[i * v.rows + r] = static_cast<float>(acc[i * v.rows + r]) * (xscale[i] * wscale[r]);
}

}  // namespace edgeasr
