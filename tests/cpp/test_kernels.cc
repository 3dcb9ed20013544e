// Every kernel of every instruction set this CPU runs, against a naive int32 loop over the int8 weights, with exact
// equality. Shapes sweep columns below, at and above the 64-column block, odd row counts, densities 0 to 1, whole
// zero rows and blocks, row sub-ranges (rows outside must stay untouched) and extreme activations.
//
// Usage: edgeasr_kernel_tests [--quick]   (--quick: fewer GEMM row counts, for slow emulators)
// Prints one line per failure and ends with "N passed, M failed"; exits nonzero on any failure.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "edgeasr/kernels.h"
#include "edgeasr/quantized_matrix.h"
#include "test_harness.h"

namespace edgeasr {
namespace {

// Kernel names by address, from the list file, so a failure names the kernel and coverage can be checked.
const std::map<MatmulKernel, std::string>& KernelNames() {
  static const std::map<MatmulKernel, std::string> names = {
#define EDGEASR_KERNEL(name, isa, format, op) {&name##__##isa, #name "__" #isa},
#include "edgeasr/kernels.inc"
#undef EDGEASR_KERNEL
  };
  return names;
}

constexpr int32_t kSentinel = -0x21524111;  // 0xDEADBEEF: what acc holds wherever a kernel must not write
constexpr size_t kGuard = 16;               // sentinel entries past the last row of acc

enum class WeightValues { kRandom, kMax };                     // uniform in [-qmax, qmax], or all +qmax
enum class Activations { kRandom, kRandomExtreme, kMax, kMin };  // uniform, random ±127, all +127, all -127

const char* Name(WeightValues v) { return v == WeightValues::kRandom ? "random" : "max"; }
const char* Name(Activations a) {
  switch (a) {
    case Activations::kRandom: return "random";
    case Activations::kRandomExtreme: return "random_pm127";
    case Activations::kMax: return "all_127";
    case Activations::kMin: return "all_-127";
  }
  return "?";
}

// q[rows][cols]: each weight nonzero with probability `density`. Row 1 is all zero, rows 8..12 too where they
// exist, and row 5 loses its second block, so zero rows and zero blocks meet nonzero ones in every row group.
std::vector<int8_t> MakeWeights(std::mt19937& rng, size_t rows, size_t cols, double density, int qmax,
                                WeightValues values) {
  std::bernoulli_distribution keep(density);
  std::uniform_int_distribution<int> magnitude(1, qmax);
  std::bernoulli_distribution negative(0.5);
  std::vector<int8_t> q(rows * cols, 0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      if (!keep(rng)) continue;
      if (values == WeightValues::kMax) q[r * cols + c] = static_cast<int8_t>(qmax);
      else q[r * cols + c] = static_cast<int8_t>(negative(rng) ? -magnitude(rng) : magnitude(rng));
    }
  auto zero = [&](size_t r, size_t c0, size_t c1) {
    for (size_t c = c0; c < c1 && c < cols; ++c) q[r * cols + c] = 0;
  };
  if (rows >= 3) zero(1, 0, cols);
  for (size_t r = 8; r <= 12 && r < rows; ++r) zero(r, 0, cols);
  if (rows >= 7 && cols > kBlockCols) zero(5, kBlockCols, 2 * kBlockCols);
  return q;
}

// x[kMaxGemmRows][padded_cols], zero past cols as the kernels require.
std::vector<int8_t> MakeActivations(std::mt19937& rng, size_t cols, size_t padded_cols, Activations kind) {
  std::uniform_int_distribution<int> uniform(-kQ8Max, kQ8Max);
  std::bernoulli_distribution negative(0.5);
  std::vector<int8_t> x(kMaxGemmRows * padded_cols, 0);
  for (size_t i = 0; i < kMaxGemmRows; ++i)
    for (size_t c = 0; c < cols; ++c) {
      int v = 0;
      switch (kind) {
        case Activations::kRandom: v = uniform(rng); break;
        case Activations::kRandomExtreme: v = negative(rng) ? -kQ8Max : kQ8Max; break;
        case Activations::kMax: v = kQ8Max; break;
        case Activations::kMin: v = -kQ8Max; break;
      }
      x[i * padded_cols + c] = static_cast<int8_t>(v);
    }
  return x;
}

// want[i][r] = sum_c x[i][c] * q[r][c], over the logical columns only.
std::vector<int32_t> Naive(const std::vector<int8_t>& q, const std::vector<int8_t>& x, size_t rows, size_t cols,
                           size_t padded_cols) {
  std::vector<int32_t> want(kMaxGemmRows * rows);
  for (size_t i = 0; i < kMaxGemmRows; ++i)
    for (size_t r = 0; r < rows; ++r) {
      int32_t sum = 0;
      for (size_t c = 0; c < cols; ++c) sum += int32_t{x[i * padded_cols + c]} * int32_t{q[r * cols + c]};
      want[i * rows + r] = sum;
    }
  return want;
}

struct Matrix {
  Format format;
  size_t rows, cols;
  double density;
  WeightValues values;
  Activations activations;
};

std::string Describe(const Matrix& t) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s rows=%zu cols=%zu density=%g weights=%s x=%s", FormatName(t.format), t.rows,
                t.cols, t.density, Name(t.values), Name(t.activations));
  return buf;
}

class Checker {
 public:
  Checker(Counts& counts, std::set<MatmulKernel>& tested) : counts_(counts), tested_(tested) {}

  // Runs one kernel call on a copy of the first m activation rows (exactly m * padded_cols bytes) and compares
  // every entry of acc: the range against want, everything else against the sentinel.
  void Call(MatmulKernel kernel, const QuantizedMatrix& qm, const Matrix& t, const std::vector<int8_t>& x,
            const std::vector<int32_t>& want, size_t m, size_t row_begin, size_t row_end) {
    tested_.insert(kernel);
    const WeightsView v = qm.view();
    const std::vector<int8_t> xm(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(m * v.padded_cols));
    std::vector<int32_t> acc(kMaxGemmRows * v.rows + kGuard, kSentinel);
    kernel(v, xm.data(), m, row_begin, row_end, acc.data());
    size_t wrong = 0, first = acc.size();
    int32_t first_want = 0;
    for (size_t k = 0; k < acc.size(); ++k) {
      const size_t i = k / v.rows, r = k % v.rows;
      const bool written = i < m && r >= row_begin && r < row_end;
      const int32_t expect = written ? want[k] : kSentinel;
      if (acc[k] == expect) continue;
      if (wrong++ == 0) {
        first = k;
        first_want = expect;
      }
    }
    if (wrong == 0) {
      ++counts_.passed;
      return;
    }
    ++counts_.failed;
    const auto name = KernelNames().find(kernel);
    std::printf("FAIL %s %s m=%zu range=[%zu,%zu): acc[%zu][%zu] = %d, want %d%s (%zu wrong entries)\n",
                name == KernelNames().end() ? "?" : name->second.c_str(), Describe(t).c_str(), m, row_begin,
                row_end, first / v.rows, first % v.rows, acc[first], first_want,
                first_want == kSentinel ? " (untouched)" : "", wrong);
  }

 private:
  Counts& counts_;
  std::set<MatmulKernel>& tested_;
};

void CheckDecode(const QuantizedMatrix& qm, const std::vector<int8_t>& q, const Matrix& t, Counts& counts) {
  std::vector<int8_t> out(q.size(), 0);
  qm.DecodeInt8(out.data());
  for (size_t k = 0; k < q.size(); ++k)
    if (out[k] != q[k]) {
      ++counts.failed;
      std::printf("FAIL DecodeInt8 %s: q[%zu][%zu] = %d, want %d\n", Describe(t).c_str(), k / t.cols, k % t.cols,
                  out[k], q[k]);
      return;
    }
  ++counts.passed;
}

// Row ranges to test: all rows, then strict sub-ranges (both ends, the middle, and empty) where rows allow.
std::vector<std::pair<size_t, size_t>> RowRanges(size_t rows) {
  std::vector<std::pair<size_t, size_t>> ranges = {{0, rows}};
  if (rows > 1) ranges.insert(ranges.end(), {{1, rows}, {0, rows - 1}, {rows / 3, rows / 3 + (rows + 1) / 2}});
  ranges.push_back({rows / 2, rows / 2});
  return ranges;
}

}  // namespace
}  // namespace edgeasr

int main(int argc, char** argv) {
  using namespace edgeasr;
  bool quick = false;
  if (!ParseTestArgs(argc, argv, &quick)) return 2;

  std::vector<size_t> gemm_rows;  // m values for GEMM
  if (quick) gemm_rows = {1, 2, 3, 4, 5, 8, 13, 16, 17, 31, 32};
  else
    for (size_t m = 1; m <= kMaxGemmRows; ++m) gemm_rows.push_back(m);
  const std::set<size_t> gemm_ranged = {1, 7, 32};  // m values that also get row sub-ranges

  const std::vector<Isa> isas = SupportedIsas();
  std::printf("isas:");
  for (Isa isa : isas) std::printf(" %s", IsaName(isa));
  std::printf("%s\n", quick ? " (quick)" : "");

  const Format formats[] = {Format::kDenseQ8, Format::kDenseQ4, Format::kSparseQ8, Format::kSparseQ4};
  const size_t row_counts[] = {1, 3, 7, 13, 17, 33, 113};  // 13: AVX2 groups of 8, 4, 1; 113: AMX 64, 32, 16
  const size_t col_counts[] = {1, 5, 63, 64, 65, 127, 128, 200, 320, 577};  // 577: past the GEMV's short-row path
  const double densities[] = {0.0, 0.05, 0.5, 1.0};
  const std::pair<WeightValues, Activations> value_kinds[] = {
      {WeightValues::kRandom, Activations::kRandom},
      {WeightValues::kRandom, Activations::kRandomExtreme},
      {WeightValues::kMax, Activations::kMax},  // every product +127 * qmax: the int16 overflow path
      {WeightValues::kMax, Activations::kMin},
  };

  std::mt19937 rng(20240611);
  Counts counts;
  std::set<MatmulKernel> tested;
  Checker checker(counts, tested);
  for (Format format : formats)
    for (size_t rows : row_counts)
      for (size_t cols : col_counts)
        for (double density : densities)
          for (const auto& [values, activations] : value_kinds) {
            const Matrix t{format, rows, cols, density, values, activations};
            const size_t kp = PaddedCols(cols);
            const std::vector<int8_t> q = MakeWeights(rng, rows, cols, density, FormatQMax(format), values);
            const std::vector<float> scales(rows, 1.0f);
            const QuantizedMatrix qm = QuantizedMatrix::FromInt(format, q.data(), rows, cols, scales.data());
            CheckDecode(qm, q, t, counts);
            const std::vector<int8_t> x = MakeActivations(rng, cols, kp, activations);
            const std::vector<int32_t> want = Naive(q, x, rows, cols, kp);
            const int f = static_cast<int>(format);
            for (Isa isa : isas) {
              const KernelSet& set = KernelsFor(isa);
              for (const auto& [begin, end] : RowRanges(rows))
                checker.Call(set.gemv[f], qm, t, x, want, 1, begin, end);
              for (size_t m : gemm_rows) {
                if (!gemm_ranged.count(m)) {
                  checker.Call(set.gemm[f], qm, t, x, want, m, 0, rows);
                  continue;
                }
                for (const auto& [begin, end] : RowRanges(rows))
                  checker.Call(set.gemm[f], qm, t, x, want, m, begin, end);
              }
            }
          }

  // Every kernel the list file declares for a tested ISA must have been reached through its KernelSet.
#define EDGEASR_KERNEL(name, kisa, format, op)                                                 \
  for (Isa isa : isas)                                                                          \
    if (isa == ParseIsa(#kisa) && !tested.count(&name##__##kisa)) {                             \
      ++counts.failed;                                                                          \
      std::printf("FAIL %s: listed in kernels.inc but never tested\n", #name "__" #kisa);       \
    }
#include "edgeasr/kernels.inc"
#undef EDGEASR_KERNEL

  return counts.Report();
}
