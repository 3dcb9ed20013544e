// Single-thread memory read bandwidth: the ceiling a batch-1 GEMV over weights that miss the cache cannot beat.
#pragma once

#include <cstddef>
#include <vector>

namespace edgeasr {

// Reads a buffer of `bytes` bytes `passes` times (after one warm-up pass) and returns bytes per second of each pass.
std::vector<double> MeasureReadBandwidth(size_t bytes, int passes);

}  // namespace edgeasr
