// Sparse int8 GEMV on the compressed form: vpexpandb puts each block's nonzeros into place in registers.
// Four rows at a time keep four independent streams of loads in flight.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

struct RowCursor {
  const SparseBlockMask* masks;
  const int8_t* p;
  __m512i acc = _mm512_setzero_si512(), bias = _mm512_setzero_si512();

  void Step(size_t b, __m512i xv) {
    using namespace avx512;
    const uint64_t bits = masks[b].bits;
    const __m512i wv = ExpandQ8(&masks[b], p);
    p += SparseBlockBytes(Format::kSparseQ8, static_cast<unsigned>(std::popcount(bits)));
    acc = Dot(acc, xv, wv);
    bias = BiasDot(bias, wv);
  }
  int32_t Result() const { return _mm512_reduce_add_epi32(_mm512_sub_epi32(acc, bias)); }
};

}  // namespace

void qs8_spmv__avx512(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  const size_t kp = w.padded_cols, blocks = kp / kBlockCols;
  thread_local std::vector<uint8_t> biased;
  const uint8_t* xb = BiasedRow(x, kp, biased);
  const int8_t* stream = static_cast<const int8_t*>(w.values);
  auto cursor = [&](size_t r) { return RowCursor{w.masks + r * blocks, stream + w.row_offsets[r]}; };
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    RowCursor c0 = cursor(r), c1 = cursor(r + 1), c2 = cursor(r + 2), c3 = cursor(r + 3);
    for (size_t b = 0; b < blocks; ++b) {
      const __m512i xv = Load(xb + b * kBlockCols);
      c0.Step(b, xv), c1.Step(b, xv), c2.Step(b, xv), c3.Step(b, xv);
    }
    acc[r] = c0.Result(), acc[r + 1] = c1.Result(), acc[r + 2] = c2.Result(), acc[r + 3] = c3.Result();
  }
  for (; r < row_end; ++r) {
    RowCursor c = cursor(r);
    for (size_t b = 0; b < blocks; ++b) c.Step(b, Load(xb + b * kBlockCols));
    acc[r] = c.Result();
  }
}

}  // namespace edgeasr
