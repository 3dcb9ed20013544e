#include "edgeasr/read_bandwidth.h"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "edgeasr/weight_allocator.h"

namespace edgeasr {

namespace {

// Eight independent lanes keep the loads in flight; XOR is cheaper than any kernel's arithmetic per byte. The AVX2
// clone reads 32 bytes a load, so the loop itself is never what limits the figure.
#if EDGEASR_X86
__attribute__((target_clones("avx2", "default")))
#endif
uint64_t XorAll(const uint64_t* p, size_t n) {
  uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) a[j] ^= p[i + j];
  return a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

}  // namespace

std::vector<double> MeasureReadBandwidth(size_t bytes, int passes) {
  if (bytes < 4096 || passes < 1) throw std::invalid_argument("bytes must be >= 4096 and passes >= 1");
  const size_t n = bytes / sizeof(uint64_t) / 8 * 8;
  std::vector<uint64_t, WeightAllocator<uint64_t>> buffer(n);  // allocated as weights are: same pages
  for (size_t i = 0; i < n; ++i) buffer[i] = i * 0x9E3779B97F4A7C15ull;
  volatile uint64_t sink = XorAll(buffer.data(), n);  // warm-up: pages mapped, TLB filled
  std::vector<double> out;
  for (int k = 0; k < passes; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    sink = sink ^ XorAll(buffer.data(), n);
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    out.push_back(static_cast<double>(n * sizeof(uint64_t)) / dt.count());
  }
  (void)sink;
  return out;
}

}  // namespace edgeasr
