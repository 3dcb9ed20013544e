#include "activations.h"
#include "edgeasr/always_inline.h"
#include "edgeasr/max_of.h"
#include "edgeasr/vector_math.h"

// GCC keeps the clamps in Exp as branches and, under the default -ftrapping-math, will not if-convert the float
// arithmetic after them, so the cell loop stayed scalar (-fopt-info-vec: "control flow in loop"): half of the
// encoder's time. Not trapping changes no result; it only lets the loops vectorize (clang vectorizes them as is).
// No contraction either: the AVX-512 clones could fuse multiply-adds, and every clone must give the same bits.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "fp-contract=off")
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

// The helpers below are always inlined (edgeasr/always_inline.h), so each target clone compiles them for its own
// instruction set: out of line, SumOfExp ran 4 floats per instruction in the AVX-512 clone of LogSoftmaxInPlace.

namespace edgeasr {
namespace {

// exp(x) for x in [-87, 87] (clamped): x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 Taylor polynomial
// (error below 2e-7 relative there), 2^n put straight into the exponent bits.
EDGEASR_ALWAYS_INLINE float Exp(float x) {
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

EDGEASR_ALWAYS_INLINE float Sigmoid(float x) { return 1.0f / (1.0f + Exp(-x)); }

// tanh(x) = 1 - 2 / (1 + exp(2x)): no cancellation for large |x|; near 0 the absolute error stays ~1e-7.
EDGEASR_ALWAYS_INLINE float Tanh(float x) { return 1.0f - 2.0f / (1.0f + Exp(2.0f * x)); }

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

namespace {

// Softmax rows are processed in blocks of this many values: exp into a block on the stack, then sum the block.
constexpr size_t kBlock = 256;
// Sums in 16 fixed lanes (lane j takes the elements i with i % 16 == j, in order), then the lanes in order: loops the
// compiler vectorizes without reassociating anything, so every clone gives the same bits. A single running sum
// would stay scalar (a float reduction cannot be reordered under the default flags).
constexpr size_t kLanes = 16;

// out[i] = exp(x[i] - shift), exactly 0 where x[i] is -inf (Exp alone clamps it to exp(-87)). The exp is computed
// first and the -inf lanes are zeroed by a multiply by 0 or 1 (exact): as a select, GCC 12 left the loop scalar in
// the AVX2 and AVX-512 clones ("control flow in loop").
EDGEASR_ALWAYS_INLINE void ExpShifted(const float* x, size_t n, float shift, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float e = Exp(x[i] - shift);
    out[i] = e * static_cast<float>(x[i] != -INFINITY);
  }
}

template <typename Sum>
EDGEASR_ALWAYS_INLINE void AddInLanes(const float* v, size_t n, Sum (&lanes)[kLanes]) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) lanes[j] += static_cast<Sum>(v[i + j]);
  for (size_t j = 0; i + j < n; ++j) lanes[j] += static_cast<Sum>(v[i + j]);
}

template <typename Sum>
EDGEASR_ALWAYS_INLINE Sum SumOfExp(const float* x, size_t n, float shift) {
  Sum lanes[kLanes] = {};
  float e[kBlock];
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t m = n - b < kBlock ? n - b : kBlock;
    ExpShifted(x + b, m, shift, e);
    AddInLanes(e, m, lanes);
  }
  Sum total = 0;
  for (size_t j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

}  // namespace

#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
double SumExp(const float* x, size_t n) {
  return SumOfExp<double>(x, n, 0.0f);  // float terms summed in double: the spread of 255 terms costs nothing
}

#if EDGEASR_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void LogSoftmaxInPlace(float* x, size_t n) {
  const float top = MaxOf(x, n);
  const float log_z = top + std::log(SumOfExp<float>(x, n, top));
  for (size_t i = 0; i < n; ++i) x[i] -= log_z;
}

}  // namespace edgeasr
