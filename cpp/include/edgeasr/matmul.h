// Float matrix products over an encoded weight matrix: quantize activations, run a kernel, scale.
#pragma once

#include <cstddef>
#include <cstdint>

#include "edgeasr/kernels.h"
#include "edgeasr/quantized_matrix.h"

namespace edgeasr {

// Quantizes each of the m rows of x[m][cols] symmetrically to int8 in [-127, 127] (scale = max|x| / 127, or 1 for
// an all-zero row; rounding half away from zero) into xq[m][padded_cols], zero-padded. Non-finite input throws std::invalid_argument.
void QuantizeActivations(const float* x, size_t m, size_t cols, size_t padded_cols, int8_t* xq, float* scales);

// acc[m][rows] = xq · Wᵀ in int32; gemv for m == 1, gemm in chunks of kMaxGemmRows otherwise.
void MatmulInt32(const WeightsView& w, const int8_t* xq, size_t m, int32_t* acc, const KernelSet& kernels);

// y[m][rows] = x[m][cols] · Wᵀ, with x quantized dynamically per row.
void Matmul(const QuantizedMatrix& w, const float* x, size_t m, float* y, const KernelSet& kernels);

}  // namespace edgeasr
