// Sparse int4 GEMV on the compressed form: vpexpandb puts each block's nonzeros into place in registers, with
// stored zeros (8) elsewhere, so the block multiplies like dense int4. Four rows at a time keep four
// independent streams of loads in flight.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

struct RowCursor {
  const SparseBlockMask* masks = nullptr;
  const uint8_t* p = nullptr;
  __m512i acc = _mm512_setzero_si512();

  void Step(size_t b, __m512i xv) {
    using namespace avx512;
    const uint64_t bits = masks[b].bits;
    acc = Dpbusd(acc, ExpandQ4Offset(&masks[b], p), xv);
    p += SparseBlockBytes(Format::kSparseQ4, static_cast<unsigned>(std::popcount(bits)));
  }
};

}  // namespace

void qs4_spmv__avx512(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  constexpr size_t kRows = 4;  // 8 measured no faster: the shuffle port, not latency, is the limit
  const size_t kp = w.padded_cols, blocks = kp / kBlockCols;
  const int32_t offset = kQ4Offset * SumRow(x, kp);
  const uint8_t* stream = static_cast<const uint8_t*>(w.values);
  auto cursor = [&](size_t r) { return RowCursor{w.masks + r * blocks, stream + w.row_offsets[r]}; };
  auto result = [&](const RowCursor& c) { return _mm512_reduce_add_epi32(c.acc) - offset; };
  size_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) {
    RowCursor c[kRows];
    for (size_t j = 0; j < kRows; ++j) c[j] = cursor(r + j);
    for (size_t b = 0; b < blocks; ++b) {
      const __m512i xv = Load(x + b * kBlockCols);
      for (size_t j = 0; j < kRows; ++j) c[j].Step(b, xv);
    }
    for (size_t j = 0; j < kRows; ++j) acc[r + j] = result(c[j]);
  }
  for (; r < row_end; ++r) {
    RowCursor c = cursor(r);
    for (size_t b = 0; b < blocks; ++b) c.Step(b, Load(x + b * kBlockCols));
    acc[r] = result(c);
  }
}

}  // namespace edgeasr
