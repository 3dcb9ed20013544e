#pragma once
// The blank penalty as sherpa-onnx applies it: the blank's logit is lowered by `penalty` before the softmax, so a
// value tuned for one runtime means the same in the other. On a row of log-probs that is: blank -= penalty, then
// every entry -= log Z with Z = 1 - P(blank) + P(blank) e^-penalty; the row stays a distribution, so scores remain
// log-probabilities that lattice posteriors and confidences can use.

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "edgeasr/vector_math.h"

namespace edgeasr::search {

inline void ApplyBlankPenalty(float* logp, size_t vocab, int32_t blank, float penalty) {
  if (penalty == 0.f) return;
  // log(1 - P(blank)) from the other entries: where the blank holds nearly all the mass, its own float log-prob
  // rounds to 0 and no longer tells how much is left. The row is normalized (entries <= 0): exp cannot overflow.
  const double sum = SumExp(logp, size_t(blank)) + SumExp(logp + blank + 1, vocab - size_t(blank) - 1);
  const double rest = std::log(sum);  // -inf when nothing but the blank has mass
  const double shifted = double(logp[size_t(blank)]) - double(penalty);
  const double hi = rest > shifted ? rest : shifted, lo = rest > shifted ? shifted : rest;
  const double log_z = std::isfinite(lo) ? hi + std::log1p(std::exp(lo - hi)) : hi;
  if (!std::isfinite(log_z)) return;  // a row with no finite mass: nothing to renormalize
  logp[size_t(blank)] = float(shifted - log_z);
  for (size_t k = 0; k < vocab; ++k)
    if (k != size_t(blank)) logp[k] = float(double(logp[k]) - log_z);
}

}  // namespace edgeasr::search
