// Dense int8 GEMV with VNNI: several weight rows at a time share each load of the biased activations, and their
// independent streams keep enough loads in flight to approach the read bandwidth.
#include "avx512_common.h"
#include "edgeasr/kernels.h"

namespace edgeasr {

namespace {

template <size_t R>
void Rows(const int8_t* q, size_t kp, const uint8_t* xb, int32_t* out) {
  using namespace avx512;
  __m512i a[R], b[R];
  for (size_t j = 0; j < R; ++j) a[j] = b[j] = _mm512_setzero_si512();
  for (size_t c = 0; c < kp; c += 64) {
    const __m512i xv = Load(xb + c);
    for (size_t j = 0; j < R; ++j) {
      const __m512i wv = Load(q + j * kp + c);
      a[j] = Dot(a[j], xv, wv);
      b[j] = BiasDot(b[j], wv);
    }
  }
  for (size_t j = 0; j < R; ++j) out[j] = _mm512_reduce_add_epi32(_mm512_sub_epi32(a[j], b[j]));
}

// Sixteen rows at once, for short rows (the LSTM's 1536 x 192 recurrence): the 128 * sum(w) of the biased
// activations comes from the matrix's row sums instead of a second vpdpbusd per block, and the 16 accumulators are
// summed in one transposing tree (ReduceAdd16).
void Rows16(const int8_t* q, size_t kp, const uint8_t* xb, const int32_t* row_sums, int32_t* out) {
  using namespace avx512;
  __m512i a[16];
  for (size_t j = 0; j < 16; ++j) a[j] = _mm512_setzero_si512();
  for (size_t c = 0; c < kp; c += 64) {
    const __m512i xv = Load(xb + c);
    for (size_t j = 0; j < 16; ++j) a[j] = Dot(a[j], xv, Load(q + j * kp + c));
  }
  const __m512i sums = ReduceAdd16(a);
  _mm512_storeu_si512(out, _mm512_sub_epi32(sums, _mm512_slli_epi32(Load(row_sums), 7)));
}

}  // namespace

void qs8_gemv__avx512(const WeightsView& w, const int8_t* x, size_t /*m*/, size_t row_begin, size_t row_end,
                      int32_t* acc) {
  using namespace avx512;
  constexpr size_t kRows = 4;  // 2, 4 and 8 measured the same: the loop is bound by read bandwidth
  // Rows up to this many columns go 16 at a time (Rows16): there the per-row reductions, not the reads, bound the
  // loop. Longer rows keep the bandwidth-bound path.
  constexpr size_t kShortRow = 512;
  const size_t kp = w.padded_cols;
  thread_local std::vector<uint8_t> biased;
  const uint8_t* xb = BiasedRow(x, kp, biased);
  const int8_t* q = static_cast<const int8_t*>(w.values);
  size_t r = row_begin;
  if (kp <= kShortRow && w.row_sums)
    for (; r + 16 <= row_end; r += 16) Rows16(q + r * kp, kp, xb, w.row_sums + r, acc + r);
  for (; r + kRows <= row_end; r += kRows) Rows<kRows>(q + r * kp, kp, xb, acc + r);
  for (; r < row_end; ++r) Rows<1>(q + r * kp, kp, xb, acc + r);
}

}  // namespace edgeasr
