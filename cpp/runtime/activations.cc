#include "activations.h"

// GCC keeps the clamps in Exp as branches and, under the default -ftrapping-math, will not if-convert the float
// arithmetic after them, so the cell loop stayed scalar (-fopt-info-vec: "control flow in loop"): half of the
// encoder's time. Not trapping changes no result; it only lets the loops vectorize (clang vectorizes them as is).
// No contraction either: the AVX-512 clones could fuse multiply-adds, and every clone must give the same bits.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "fp-contract=off")
#endif

#include <cstdint>
#include <cstring>

namespace edgeasr {
namespace {

// exp(x) for x in [-87, 87] (clamped): x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 Taylor polynomial
// (error below 2e-7 relative there), 2^n put straight into the exponent bits.
inline float Exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
  const float n = static_cast<float>(static_cast<int32_t>(x * 1.44269504f + (x >= 0.0f ? 0.5f : -0.5f)));
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 split in two for an exact n * ln2
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float Sigmoid(float x) { return 1.0f / (1.0f + Exp(-x)); }

// tanh(x) = 1 - 2 / (1 + exp(2x)): no cancellation for large |x|; near 0 the absolute error stays ~1e-7.
inline float Tanh(float x) { return 1.0f - 2.0f / (1.0f + Exp(2.0f * x)); }

}  // namespace

// Cloned for AVX-512 and AVX2 (the loader picks the best the CPU has): 16 or 8 cells per instruction instead of 4.
#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void LstmCellUpdate(float* gates, size_t hidden, float* c, float* cell_out) {
  float* in = gates;
  float* forget = gates + hidden;
  float* cand = gates + 2 * hidden;
  float* out = gates + 3 * hidden;
  for (size_t j = 0; j < hidden; ++j) {
    const float cj = Sigmoid(forget[j]) * c[j] + Sigmoid(in[j]) * Tanh(cand[j]);
    c[j] = cj;
    cell_out[j] = Sigmoid(out[j]) * Tanh(cj);
  }
}

#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void TanhInPlace(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = Tanh(x[i]);
}

}  // namespace edgeasr
