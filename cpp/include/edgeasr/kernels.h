// Integer matrix kernels over the weight formats of formats.h, and the run-time choice among instruction sets.
//
// Every kernel computes exact int32 dot products between quantized activations and one weight matrix:
//   acc[i * w.rows + r] = sum_c x[i * w.padded_cols + c] * W[r][c]    for i < m, row_begin <= r < row_end
// x holds int8 activations in [-127, 127], zero-padded to w.padded_cols. Scaling to float happens outside
// (matmul.h), so tests can demand exact equality with a naive loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgeasr/formats.h"

namespace edgeasr {

using MatmulKernel = void (*)(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                              int32_t* acc);

// Largest number of activation rows one GEMM call takes (a chunk of frames, or a beam of hypotheses).
constexpr size_t kMaxGemmRows = 32;

// kAmx is AVX-512 plus AMX tiles: it uses the AVX-512 kernels except where kernels.inc lists an AMX one.
enum class Isa : uint8_t { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3, kAmx = 4 };
constexpr int kIsaCount = 5;

const char* IsaName(Isa isa);
// Parses "scalar", "avx2", "avx512", "amx", "neon"; throws std::invalid_argument on anything else.
Isa ParseIsa(const std::string& name);

// One instruction set's kernels, indexed by Format. gemv takes m == 1; gemm takes 1 <= m <= kMaxGemmRows.
struct KernelSet {
  Isa isa;
  MatmulKernel gemv[4];
  MatmulKernel gemm[4];
};

// Kernel sets compiled into this build that the running CPU can execute, best last.
std::vector<Isa> SupportedIsas();
// The kernels of one ISA; throws std::invalid_argument if this build or CPU lacks it.
const KernelSet& KernelsFor(Isa isa);
// The kernels in use: EDGEASR_ISA when set (an unsupported value throws), else the best supported set.
const KernelSet& ActiveKernels();

// Declarations of every kernel in kernels.inc, e.g. qs8_gemv__avx2.
#define EDGEASR_KERNEL(name, isa, format, op) \
  void name##__##isa(const WeightsView& w, const int8_t* x, size_t m, size_t row_begin, size_t row_end, int32_t* acc);
#include "edgeasr/kernels.inc"
#undef EDGEASR_KERNEL

}  // namespace edgeasr
