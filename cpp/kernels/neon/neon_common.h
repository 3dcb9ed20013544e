// Helpers shared by the NEON kernels: block decoders (one per weight format) and the GEMV / GEMM drivers that
// run them. Everything is static inline, so the linker never sees a NEON copy of anything. Baseline ARMv8-A only:
// no dotprod, so products go through vmull/vmlal into int16 and are widened with vpadal.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "edgeasr/formats.h"
#include "edgeasr/kernels.h"

namespace edgeasr {
namespace neon {

// Lane j of kExpandIndex[b] is the rank of bit j among the set bits of byte b, or 0x80 if bit j is clear.
// Adding an offset of at most 64 keeps an empty lane >= 64, which every vqtbl reads as zero.
struct ExpandTable {
  uint8_t index[256][8];
};

static constexpr ExpandTable MakeExpandTable() {
  ExpandTable t{};
  for (unsigned b = 0; b < 256; ++b) {
    uint8_t rank = 0;
    for (unsigned j = 0; j < 8; ++j) t.index[b][j] = ((b >> j) & 1) ? rank++ : 0x80;
  }
  return t;
}

static constexpr ExpandTable kExpand = MakeExpandTable();

// Shuffle indices for byte k of a 64-bit mask.
static inline uint8x8_t ExpandIndex(uint64_t bits, unsigned k) {
  return vld1_u8(kExpand.index[(bits >> (8 * k)) & 0xFF]);
}

// Set bits per byte of the mask, one count per byte of the result.
static inline uint64_t ByteCounts(uint64_t bits) {
  return vget_lane_u64(vreinterpret_u64_u8(vcnt_u8(vcreate_u8(bits))), 0);
}

// Sum of 64 int8 products into 4 int32 lanes, for weights in [-127, 127]. Two products per int16 lane reach at
// most 2 * 127 * 127 = 32258; a third could overflow, so each pair is widened at once.
static inline int32x4_t DotQ8(int32x4_t acc, const int8x16_t w[4], const int8x16_t x[4]) {
  for (int k = 0; k < 4; ++k) {
    int16x8_t s = vmull_s8(vget_low_s8(w[k]), vget_low_s8(x[k]));
    s = vmlal_high_s8(s, w[k], x[k]);
    acc = vpadalq_s16(acc, s);
  }
  return acc;
}

// The same for weights in [-7, 7]: a product is at most 889, so all 8 products per int16 lane fit before widening.
static inline int32x4_t DotQ4(int32x4_t acc, const int8x16_t w[4], const int8x16_t x[4]) {
  int16x8_t s0 = vmull_s8(vget_low_s8(w[0]), vget_low_s8(x[0]));
  int16x8_t s1 = vmull_s8(vget_low_s8(w[1]), vget_low_s8(x[1]));
  s0 = vmlal_high_s8(s0, w[0], x[0]);
  s1 = vmlal_high_s8(s1, w[1], x[1]);
  s0 = vmlal_s8(s0, vget_low_s8(w[2]), vget_low_s8(x[2]));
  s1 = vmlal_s8(s1, vget_low_s8(w[3]), vget_low_s8(x[3]));
  s0 = vmlal_high_s8(s0, w[2], x[2]);
  s1 = vmlal_high_s8(s1, w[3], x[3]);
  return vpadalq_s16(vpadalq_s16(acc, s0), s1);
}

static inline void LoadBlock(const int8_t* p, int8x16_t v[4]) {
  for (int k = 0; k < 4; ++k) v[k] = vld1q_s8(p + 16 * k);
}

// Block decoders. Each walks one weight row block by block: Start positions a cursor on row r, Next yields the
// next block's 64 weights as int8 in column order and returns false (leaving w unset) if they are all zero.

struct DenseQ8 {
  struct Cursor {
    const int8_t* p;
  };
  static Cursor Start(const WeightsView& v, size_t r) {
    return {static_cast<const int8_t*>(v.values) + r * v.padded_cols};
  }
  static bool Next(Cursor& c, int8x16_t w[4]) {
    LoadBlock(c.p, w);
    c.p += kBlockCols;
    return true;
  }
  static int32x4_t Dot(int32x4_t acc, const int8x16_t w[4], const int8x16_t x[4]) { return DotQ8(acc, w, x); }
};

struct DenseQ4 {
  struct Cursor {
    const uint8_t* p;
  };
  static Cursor Start(const WeightsView& v, size_t r) {
    return {static_cast<const uint8_t*>(v.values) + r * v.padded_cols / 2};
  }
  // BlockQ4: byte i holds column i in its low nibble and column i + 32 in its high nibble.
  static bool Next(Cursor& c, int8x16_t w[4]) {
    const uint8x16_t b0 = vld1q_u8(c.p), b1 = vld1q_u8(c.p + 16);
    const uint8x16_t low = vdupq_n_u8(0x0F);
    const int8x16_t offset = vdupq_n_s8(kQ4Offset);
    w[0] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b0, low)), offset);
    w[1] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b1, low)), offset);
    w[2] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), offset);
    w[3] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), offset);
    c.p += sizeof(BlockQ4);
    return true;
  }
  static int32x4_t Dot(int32x4_t acc, const int8x16_t w[4], const int8x16_t x[4]) { return DotQ4(acc, w, x); }
};

// Sparse int8: the nonzeros of columns 16k..16k+15 sit in the stream right after those of earlier columns, so
// one 16-byte load at their start and a table lookup put each where its mask bit is. The stream's padding
// (kValuePadding) makes the load safe at any value position.
struct SparseQ8 {
  struct Cursor {
    const SparseBlockMask* mask;
    const int8_t* p;
  };
  static Cursor Start(const WeightsView& v, size_t r) {
    return {v.masks + r * (v.padded_cols / kBlockCols), static_cast<const int8_t*>(v.values) + v.row_offsets[r]};
  }
  static bool Next(Cursor& c, int8x16_t w[4]) {
    const uint64_t bits = (c.mask++)->bits;
    if (bits == 0) return false;
    const uint64_t counts = ByteCounts(bits);
    const uint64_t inclusive = counts * 0x0101010101010101ull;  // byte k: set bits in bytes 0..k
    const uint64_t before = inclusive << 8;                     // byte k: set bits in bytes below k
    for (unsigned k = 0; k < 4; ++k) {
      const uint8x8_t lo = ExpandIndex(bits, 2 * k);
      const uint8x8_t hi = vadd_u8(ExpandIndex(bits, 2 * k + 1), vdup_n_u8(static_cast<uint8_t>(counts >> (16 * k))));
      w[k] = vqtbl1q_s8(vld1q_s8(c.p + ((before >> (16 * k)) & 0xFF)), vcombine_u8(lo, hi));
    }
    c.p += inclusive >> 56;
    return true;
  }
  static int32x4_t Dot(int32x4_t acc, const int8x16_t w[4], const int8x16_t x[4]) { return DotQ8(acc, w, x); }
};

// Sparse int4: a block's (at most 64) nibbles fit in 32 bytes; they are unpacked in order into a 64-byte table,
// shifted to signed, and each 16-column group picks its values with one 4-register lookup.
struct SparseQ4 {
  struct Cursor {
    const SparseBlockMask* mask;
    const uint8_t* p;
  };
  static Cursor Start(const WeightsView& v, size_t r) {
    return {v.masks + r * (v.padded_cols / kBlockCols), static_cast<const uint8_t*>(v.values) + v.row_offsets[r]};
  }
  static bool Next(Cursor& c, int8x16_t w[4]) {
    const uint64_t bits = (c.mask++)->bits;
    if (bits == 0) return false;
    const uint8x16_t b0 = vld1q_u8(c.p), b1 = vld1q_u8(c.p + 16);
    const uint8x16_t low = vdupq_n_u8(0x0F);
    const uint8x16_t l0 = vandq_u8(b0, low), h0 = vshrq_n_u8(b0, 4);
    const uint8x16_t l1 = vandq_u8(b1, low), h1 = vshrq_n_u8(b1, 4);
    const int8x16_t offset = vdupq_n_s8(kQ4Offset);
    int8x16x4_t values;  // value n of the block in byte n
    values.val[0] = vsubq_s8(vreinterpretq_s8_u8(vzip1q_u8(l0, h0)), offset);
    values.val[1] = vsubq_s8(vreinterpretq_s8_u8(vzip2q_u8(l0, h0)), offset);
    values.val[2] = vsubq_s8(vreinterpretq_s8_u8(vzip1q_u8(l1, h1)), offset);
    values.val[3] = vsubq_s8(vreinterpretq_s8_u8(vzip2q_u8(l1, h1)), offset);
    const uint64_t inclusive = ByteCounts(bits) * 0x0101010101010101ull;  // byte k: set bits in bytes 0..k
    const uint64_t before = inclusive << 8;  // byte k: set bits in bytes below k (at most 56)
    for (unsigned k = 0; k < 4; ++k) {
      const uint8x8_t lo = vadd_u8(ExpandIndex(bits, 2 * k), vdup_n_u8(static_cast<uint8_t>(before >> (16 * k))));
      const uint8x8_t hi =
          vadd_u8(ExpandIndex(bits, 2 * k + 1), vdup_n_u8(static_cast<uint8_t>(before >> (16 * k + 8))));
      w[k] = vqtbl4q_s8(values, vcombine_u8(lo, hi));
    }
    c.p += SparseBlockBytes(Format::kSparseQ4, static_cast<unsigned>(inclusive >> 56));
    return true;
  }
  static int32x4_t Dot(int32x4_t acc, const int8x16_t w[4], const int8x16_t x[4]) { return DotQ4(acc, w, x); }
};

// R rows against one activation row, accumulators in registers: R independent streams keep several loads in
// flight.
template <class D, int R>
static inline void GemvRows(const WeightsView& v, const int8_t* x, size_t r0, int32_t* acc) {
  typename D::Cursor cur[R];
  int32x4_t a[R];
  for (int j = 0; j < R; ++j) {
    cur[j] = D::Start(v, r0 + j);
    a[j] = vdupq_n_s32(0);
  }
  const size_t blocks = v.padded_cols / kBlockCols;
  for (size_t b = 0; b < blocks; ++b) {
    int8x16_t xv[4];
    LoadBlock(x + b * kBlockCols, xv);
    for (int j = 0; j < R; ++j) {
      int8x16_t wv[4];
      if (D::Next(cur[j], wv)) a[j] = D::Dot(a[j], wv, xv);
    }
  }
  for (int j = 0; j < R; ++j) acc[r0 + j] = vaddvq_s32(a[j]);
}

template <class D>
static inline void Gemv(const WeightsView& v, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                        int32_t* acc) {
  constexpr int kRows = 4;
  for (size_t i = 0; i < m; ++i) {  // m is 1 by contract; looping costs nothing and keeps a misuse exact
    const int8_t* xi = x + i * v.padded_cols;
    int32_t* ai = acc + i * v.rows;
    size_t r = row_begin;
    for (; r + kRows <= row_end; r += kRows) GemvRows<D, kRows>(v, xi, r, ai);
    for (; r < row_end; ++r) GemvRows<D, 1>(v, xi, r, ai);
  }
}

// R rows against m activation rows: each block of weights is decoded once into registers and used for all m
// rows; the m * R accumulators live on the stack.
template <class D, int R>
static inline void GemmRows(const WeightsView& v, const int8_t* x, size_t m, size_t r0, int32_t* acc) {
  typename D::Cursor cur[R];
  for (int j = 0; j < R; ++j) cur[j] = D::Start(v, r0 + j);
  int32x4_t a[kMaxGemmRows][R];
  for (size_t i = 0; i < m; ++i)
    for (int j = 0; j < R; ++j) a[i][j] = vdupq_n_s32(0);
  const size_t kp = v.padded_cols, blocks = kp / kBlockCols;
  for (size_t b = 0; b < blocks; ++b) {
    int8x16_t wv[R][4];
    bool nonzero[R];
    bool any = false;
    for (int j = 0; j < R; ++j) any |= nonzero[j] = D::Next(cur[j], wv[j]);
    if (!any) continue;
    const int8_t* xb = x + b * kBlockCols;
    for (size_t i = 0; i < m; ++i) {
      int8x16_t xv[4];
      LoadBlock(xb + i * kp, xv);
      for (int j = 0; j < R; ++j)
        if (nonzero[j]) a[i][j] = D::Dot(a[i][j], wv[j], xv);
    }
  }
  for (size_t i = 0; i < m; ++i)
    for (int j = 0; j < R; ++j) acc[i * v.rows + r0 + j] = vaddvq_s32(a[i][j]);
}

template <class D>
static inline void Gemm(const WeightsView& v, const int8_t* x, size_t m, size_t row_begin, size_t row_end,
                        int32_t* acc) {
  constexpr int kRows = 2;
  for (size_t i0 = 0; i0 < m; i0 += kMaxGemmRows) {  // kMaxGemmRows by contract; larger m is split, not overrun
    const size_t mi = m - i0 < kMaxGemmRows ? m - i0 : kMaxGemmRows;
    const int8_t* xi = x + i0 * v.padded_cols;
    int32_t* ai = acc + i0 * v.rows;
    size_t r = row_begin;
    for (; r + kRows <= row_end; r += kRows) GemmRows<D, kRows>(v, xi, mi, r, ai);
    for (; r < row_end; ++r) GemmRows<D, 1>(v, xi, mi, r, ai);
  }
}

}  // namespace neon
}  // namespace edgeasr
