#include "edgeasr/linear.h"

// No fused multiply-adds in the float layer (see FloatAffine): the clones must agree bit for bit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "edgeasr/matmul.h"

namespace edgeasr {
namespace {

// y[m][out] = x[m][in] · w_t + bias (w_t is [in][out]; bias may be null). Output-major accumulation: each y[r] sums
// bias, then x[0] w[r][0], x[1] w[r][1], ... in that order, and the loop over r vectorizes without reassociating
// any sum; cloned for AVX-512 and AVX2 (16 or 8 outputs per instruction), with no fused multiply-adds, so every
// clone gives the same bits.
#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void FloatAffine(const float* w_t, const float* bias, const float* x, size_t m, size_t in, size_t out, float* y) {
  for (size_t i = 0; i < m; ++i) {
    float* yi = y + i * out;
    const float* xi = x + i * in;
    if (bias) std::copy(bias, bias + out, yi);
    else std::fill(yi, yi + out, 0.0f);
    for (size_t c = 0; c < in; ++c) {
      const float xc = xi[c];
      const float* wc = w_t + c * out;
      for (size_t r = 0; r < out; ++r) yi[r] += xc * wc[r];
    }
  }
}

void CheckBias(const std::vector<float>& bias, size_t out) {
  if (!bias.empty() && bias.size() != out)
    throw std::invalid_argument("bias: expected " + std::to_string(out) + " values, got " +
                                std::to_string(bias.size()));
}

}  // namespace

Linear::Linear(const float* w, size_t out, size_t in, std::vector<float> bias)
    : out_(out), in_(in), weight_t_(out * in), bias_(std::move(bias)) {
  CheckBias(bias_, out_);
  for (size_t r = 0; r < out; ++r)
    for (size_t c = 0; c < in; ++c) weight_t_[c * out + r] = w[r * in + c];
}

Linear::Linear(QuantizedMatrix w, std::vector<float> bias)
    : out_(w.rows()), in_(w.cols()), quantized_(std::move(w)), bias_(std::move(bias)) {
  CheckBias(bias_, out_);
}

void Linear::Apply(const float* x, size_t m, float* y, const KernelSet& kernels) const {
  if (m == 0) return;
  if (quantized_) {
    Matmul(*quantized_, x, m, y, kernels);
    if (!bias_.empty())
      for (size_t i = 0; i < m; ++i)
        for (size_t r = 0; r < out_; ++r) y[i * out_ + r] += bias_[r];
    return;
  }
  FloatAffine(weight_t_.data(), bias_.empty() ? nullptr : bias_.data(), x, m, in_, out_, y);
}

}  // namespace edgeasr
