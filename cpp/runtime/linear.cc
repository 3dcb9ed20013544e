#include "edgeasr/linear.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "edgeasr/matmul.h"

namespace edgeasr {
namespace {

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
  // Output-major accumulation: each y[r] sums bias, then x[0] w[r][0], x[1] w[r][1], ... in that order, and the
  // loop over r vectorizes without reassociating any sum.
  for (size_t i = 0; i < m; ++i) {
    float* yi = y + i * out_;
    const float* xi = x + i * in_;
    if (bias_.empty()) std::fill(yi, yi + out_, 0.0f);
    else std::copy(bias_.begin(), bias_.end(), yi);
    for (size_t c = 0; c < in_; ++c) {
      const float xc = xi[c];
      const float* wc = weight_t_.data() + c * out_;
      for (size_t r = 0; r < out_; ++r) yi[r] += xc * wc[r];
    }
  }
}

}  // namespace edgeasr
