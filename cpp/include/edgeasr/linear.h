// y = x · Wᵀ + b over float weights or an encoded QuantizedMatrix: the one affine layer every part of the network
// uses.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "edgeasr/kernels.h"
#include "edgeasr/quantized_matrix.h"

namespace edgeasr {

class Linear {
 public:
  // Float weights w[out][in], row-major. bias holds `out` values, or is empty for none.
  Linear(const float* w, size_t out, size_t in, std::vector<float> bias);
  // Encoded weights [out][in]; applied with dynamically quantized int8 activations (matmul.h).
  Linear(QuantizedMatrix w, std::vector<float> bias);

  size_t in_features() const { return in_; }
  size_t out_features() const { return out_; }
  bool quantized() const { return quantized_.has_value(); }

  // y[m][out] = x[m][in] · Wᵀ + bias. y must not overlap x. kernels is used by quantized weights only.
  // Each row of y depends on its own row of x alone, so splitting x into row chunks gives identical results.
  void Apply(const float* x, size_t m, float* y, const KernelSet& kernels) const;

 private:
  size_t out_ = 0, in_ = 0;
  std::vector<float> weight_t_;  // float weights transposed, [in][out]: the inner loop then runs over outputs
  std::optional<QuantizedMatrix> quantized_;
  std::vector<float> bias_;
};

}  // namespace edgeasr
