// The largest of an array, scanned in independent lanes.
#pragma once

#include <algorithm>
#include <cstddef>

#include "edgeasr/always_inline.h"

namespace edgeasr {

// The largest of x[0..n) (n >= 1, no NaN). Eight independent lanes instead of one chain of dependent compares: the
// same value as a sequential scan (a max is exact in any order) at about a quarter of the latency. Always inlined, so
// a target clone that calls it gets it compiled for its own instruction set (edgeasr/always_inline.h).
template <typename T>
EDGEASR_ALWAYS_INLINE T MaxOf(const T* x, size_t n) {
  T lanes[8];
  std::fill(lanes, lanes + 8, x[0]);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t k = 0; k < 8; ++k) lanes[k] = x[i + k] > lanes[k] ? x[i + k] : lanes[k];
  for (; i < n; ++i) lanes[0] = x[i] > lanes[0] ? x[i] : lanes[0];
  return *std::max_element(lanes, lanes + 8);
}

}  // namespace edgeasr
