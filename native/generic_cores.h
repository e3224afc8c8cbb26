// Exact-integer, float and scalar-LUT cores (and the axpy / dot rows of the depthwise backward
// kernel) written as plain loops, included by every ISA's
// translation unit inside an anonymous namespace: each copy is compiled (and auto-vectorised)
// with that unit's target flags, and the linker cannot pick one unit's copy for another.
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels.h"

namespace {

using namespace axnn;

constexpr int kTapChunk = 64;  // taps whose stream pointers are gathered at once

// Four taps per pass over the accumulators: a quarter of the accumulator loads and stores.
template <typename A, typename Acc>
inline void accumulateTaps(const A* const* streams, const Acc* weights, int K, int nPos, Acc* __restrict acc) {
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    const A* __restrict a0 = streams[k];
    const A* __restrict a1 = streams[k + 1];
    const A* __restrict a2 = streams[k + 2];
    const A* __restrict a3 = streams[k + 3];
    const Acc w0 = weights[k], w1 = weights[k + 1], w2 = weights[k + 2], w3 = weights[k + 3];
    for (int i = 0; i < nPos; i++) {
      acc[i] += Acc(a0[i]) * w0 + Acc(a1[i]) * w1 + Acc(a2[i]) * w2 + Acc(a3[i]) * w3;
    }
  }
  for (; k < K; k++) {
    const A* __restrict a0 = streams[k];
    const Acc w0 = weights[k];
    for (int i = 0; i < nPos; i++) acc[i] += Acc(a0[i]) * w0;
  }
}

// Exact products. Operands are converted to uint32 (sign-extending int8), so products and sums
// are the int32 ones modulo 2^32, without signed-overflow undefined behaviour.
template <typename A>
void exactTyped(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, int64_t pos0, int nPos, uint32_t* out) {
  alignas(64) uint32_t acc[kMaxBlock];
  std::memset(acc, 0, sizeof(uint32_t) * nPos);
  const A* streams[kTapChunk];
  uint32_t weights[kTapChunk];
  for (int k0 = 0; k0 < K; k0 += kTapChunk) {
    const int n = K - k0 < kTapChunk ? K - k0 : kTapChunk;
    for (int j = 0; j < n; j++) {
      streams[j] = reinterpret_cast<const A*>(base + tapOff[k0 + j] + pos0);
      weights[j] = uint32_t(A(sel[k0 + j]));
    }
    accumulateTaps<A, uint32_t>(streams, weights, n, nPos, acc);
  }
  std::memcpy(out, acc, sizeof(uint32_t) * nPos);
}

[[maybe_unused]] void exactGeneric(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, bool isSigned, int64_t pos0, int nPos, uint32_t* out) {
  if (isSigned) exactTyped<int8_t>(base, tapOff, sel, K, pos0, nPos, out);
  else exactTyped<uint8_t>(base, tapOff, sel, K, pos0, nPos, out);
}

[[maybe_unused]] void floatGeneric(const float* base, const int64_t* tapOff, const float* sel, int K, int64_t pos0, int nPos, float* out) {
  alignas(64) float acc[kMaxBlock];
  for (int i = 0; i < nPos; i++) acc[i] = 0.0f;
  const float* streams[kTapChunk];
  for (int k0 = 0; k0 < K; k0 += kTapChunk) {
    const int n = K - k0 < kTapChunk ? K - k0 : kTapChunk;
    for (int j = 0; j < n; j++) streams[j] = base + tapOff[k0 + j] + pos0;
    accumulateTaps<float, float>(streams, sel + k0, n, nPos, acc);
  }
  std::memcpy(out, acc, sizeof(float) * nPos);
}

[[maybe_unused]] void axpyGeneric(float* __restrict y, const float* __restrict x, float a, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

// Sixteen independent float lanes (one zmm, two ymm or four xmm registers: the compiler may
// vectorise them without reassociating any sum), then the lanes and the tail in double.
[[maybe_unused]] double dotGeneric(const float* __restrict a, const float* __restrict b, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; j++) lanes[j] += a[i + j] * b[i + j];
  double sum = 0;
  for (int j = 0; j < kLanes; j++) sum += lanes[j];
  for (; i < n; i++) sum += double(a[i]) * b[i];
  return sum;
}

// Table lookups, eight positions at a time: one 64-bit load brings a tap's eight activations,
// and the eight accumulators stay in registers across all taps.
[[maybe_unused]] void lutGeneric(const uint8_t* base, const int64_t* tapOff, const uint8_t* sel, int K, const LutCtx& lut, int64_t pos0, int nPos, uint32_t* out) {
  const uint32_t* rows = reinterpret_cast<const uint32_t*>(lut.rowsI32);
  int i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__  // byte j of x is position i + j
  for (; i + 8 <= nPos; i += 8) {
    uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (int k = 0; k < K; k++) {
      const uint32_t* row = rows + size_t(sel[k]) * 256;
      uint64_t x;
      std::memcpy(&x, base + tapOff[k] + pos0 + i, 8);
      a0 += row[x & 255];
      a1 += row[(x >> 8) & 255];
      a2 += row[(x >> 16) & 255];
      a3 += row[(x >> 24) & 255];
      a4 += row[(x >> 32) & 255];
      a5 += row[(x >> 40) & 255];
      a6 += row[(x >> 48) & 255];
      a7 += row[x >> 56];
    }
    out[i] = a0; out[i + 1] = a1; out[i + 2] = a2; out[i + 3] = a3;
    out[i + 4] = a4; out[i + 5] = a5; out[i + 6] = a6; out[i + 7] = a7;
  }
#endif
  for (; i < nPos; i++) {
    uint32_t acc = 0;
    for (int k = 0; k < K; k++) acc += rows[size_t(sel[k]) * 256 + base[tapOff[k] + pos0 + i]];
    out[i] = acc;
  }
}


// ---- The plane-transform LUT core (kernels.h, LutPlanesCore) ----

// dst[j] = row[src[j]] for j < len: one channel's run of activations through one weight's row.
[[maybe_unused]] void transformRowGeneric(const uint32_t* __restrict row, const uint8_t* __restrict src, int64_t len, uint32_t* __restrict dst) {
  int64_t j = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; j + 8 <= len; j += 8) {
    uint64_t x;
    std::memcpy(&x, src + j, 8);
    dst[j] = row[x & 255];
    dst[j + 1] = row[(x >> 8) & 255];
    dst[j + 2] = row[(x >> 16) & 255];
    dst[j + 3] = row[(x >> 24) & 255];
    dst[j + 4] = row[(x >> 32) & 255];
    dst[j + 5] = row[(x >> 40) & 255];
    dst[j + 6] = row[(x >> 48) & 255];
    dst[j + 7] = row[x >> 56];
  }
#endif
  for (; j < len; j++) dst[j] = row[src[j]];
}

// acc[i] += sum of the N streams' element i (uint32: wraps modulo 2^32 like the int32 reference;
// 16-bit streams are zero-extended).
template <int N, typename S>
inline void addStreamsN(const S* const* s, int nPos, uint32_t* __restrict acc) {
  const S* __restrict p[N];
  for (int k = 0; k < N; k++) p[k] = s[k];
  for (int i = 0; i < nPos; i++) {
    uint32_t t = 0;
    for (int k = 0; k < N; k++) t += p[k][i];
    acc[i] += t;
  }
}

// Adds n streams into acc with Add::run<N>, N a compile-time count: 8 at a time while more than 9
// remain, then the rest in one call.
template <typename Add, typename S>
inline void addInGroups(const S* const* s, int n, int nPos, uint32_t* acc) {
  while (n > 0) {
    switch (n) {
      case 1: Add::template run<1>(s, nPos, acc); return;
      case 2: Add::template run<2>(s, nPos, acc); return;
      case 3: Add::template run<3>(s, nPos, acc); return;
      case 4: Add::template run<4>(s, nPos, acc); return;
      case 5: Add::template run<5>(s, nPos, acc); return;
      case 6: Add::template run<6>(s, nPos, acc); return;
      case 7: Add::template run<7>(s, nPos, acc); return;
      case 8: Add::template run<8>(s, nPos, acc); return;
      case 9: Add::template run<9>(s, nPos, acc); return;
      default: Add::template run<8>(s, nPos, acc); s += 8; n -= 8;
    }
  }
}

struct AddStreams {
  template <int N, typename S>
  static void run(const S* const* s, int nPos, uint32_t* acc) { addStreamsN<N>(s, nPos, acc); }
};

template <typename S>
inline void addStreams(const S* const* s, int n, int nPos, uint32_t* acc) { addInGroups<AddStreams>(s, n, nPos, acc); }

// Per input channel (at most kMaxPlaneTaps taps each, lut_planes.cc checks): its runs of
// activations (tapRuns) through the row of each distinct weight code of the channel, then for
// every output channel the R x S shifted transformed runs added to its accumulators.
template <void (*Transform)(const uint32_t*, const uint8_t*, int64_t, uint32_t*)>
void lutPlanesWith(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0, int64_t m1,
                   int64_t pos0, int nPos, uint32_t* out) {
  const uint32_t* rows = reinterpret_cast<const uint32_t*>(lut.rowsI32);
  const int RS = int(lp.RS);
  thread_local std::vector<uint32_t> planes;
  const uint32_t* streams[kMaxPlaneTaps];
  TapRuns runs;
  for (int64_t m = m0; m < m1; m++) std::memset(out + (m - m0) * lp.outStride, 0, sizeof(uint32_t) * nPos);
  for (int64_t cl = 0; cl < lp.Cg; cl++) {
    const int64_t c = grp * lp.Cg + cl;
    const int64_t* offs = tapOff + cl * RS;
    tapRuns(offs, RS, nPos, runs);
    const int64_t len = runs.total;
    const int64_t D = lp.start[c + 1] - lp.start[c];
    if (planes.size() < size_t(D * len)) planes.resize(size_t(D * len));
    const uint8_t* codes = lp.codes + lp.start[c];
    for (int r = 0; r < runs.n; r++)
      for (int64_t d = 0; d < D; d++) Transform(rows + size_t(codes[d]) * 256, base + pos0 + runs.lo[r], runs.len[r], planes.data() + d * len + runs.at[r]);
    for (int64_t m = m0; m < m1; m++) {
      const uint8_t* idx = lp.plane + (m * lp.Cg + cl) * RS;
      for (int k = 0; k < RS; k++) streams[k] = planes.data() + int64_t(idx[k]) * len + runs.at[runs.of[k]] + (offs[k] - runs.lo[runs.of[k]]);
      addStreams(streams, RS, nPos, out + (m - m0) * lp.outStride);
    }
  }
}

[[maybe_unused]] void lutPlanesGeneric(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0, int64_t m1,
                                       int64_t pos0, int nPos, uint32_t* out) {
  lutPlanesWith<transformRowGeneric>(base, tapOff, lp, lut, grp, m0, m1, pos0, nPos, out);
}

// ---- The plane-transform core for tables whose products fit 16 bits, by transposes ----
//
// A Transposer moves tiles of kLanes x kLanes uint16: Transposer::tile(at, offset, dst, stride)
// loads kLanes elements from at[i] + offset for each i < kLanes and stores them transposed, the
// i-th element of every row going to row i at dst + i * stride. kLanes divides 16 (the padding
// of codes, rows and runs in kernels.h).

// A channel's table by activation (kernels.h, LutPlanesTable): transposes of its codes' rows.
template <typename Transposer>
void channelTableWith(const uint16_t* rowsU16, const uint8_t* codes, int64_t D, uint16_t* table) {
  constexpr int W = Transposer::kLanes;
  const int64_t Dp = paddedCodes(D);
  const uint16_t* at[W];
  for (int64_t d0 = 0; d0 < Dp; d0 += W) {
    for (int i = 0; i < W; i++) at[i] = rowsU16 + size_t(codes[std::min<int64_t>(d0 + i, D - 1)]) * 256;
    for (int a0 = 0; a0 < 256; a0 += W) Transposer::tile(at, a0, table + a0 * Dp + d0, Dp);
  }
}

// The plane-transform core for tables whose products fit 16 bits (lut.rowsU16: product - min).
// Per input channel, instead of one scalar lookup per (distinct code, position):
//  1. a table by activation T[a][d]: the layer's (lp.byActivation, every code up to rowsP), or
//     when the channel uses few codes, its own for its D distinct codes (padded to Dp, a multiple
//     of 16: transposes of the codes' rows), whichever transposes less (planesFromLayerTable);
//  2. the transformed planes, planes[d][j] = T[x_j][d]: for kLanes positions, their rows of T
//     (contiguous loads), transposed kLanes codes at a time;
//  3. per output channel, its taps' shifted 16-bit planes added into the uint32 accumulators
//     (zero-extended: half the bytes of int32 planes).
// Every tap contributed product - min, so K * min is added at the end (mod 2^32, as the reference).
// Tables without uint16 rows take the lookup core.
template <typename Transposer, void (*Add)(const uint16_t* const*, int, int, uint32_t*) = addStreams<uint16_t>>
void lutPlanesU16With(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0, int64_t m1,
                      int64_t pos0, int nPos, uint32_t* out) {
  if (!lut.rowsU16) {
    lutPlanesGeneric(base, tapOff, lp, lut, grp, m0, m1, pos0, nPos, out);
    return;
  }
  constexpr int W = Transposer::kLanes;
  const int RS = int(lp.RS);
  thread_local std::vector<uint16_t> table, planes;
  const uint16_t* streams[kMaxPlaneTaps];
  const uint16_t* at[W];
  for (int64_t m = m0; m < m1; m++) std::memset(out + (m - m0) * lp.outStride, 0, sizeof(uint32_t) * nPos);
  TapRuns runs;
  for (int64_t cl = 0; cl < lp.Cg; cl++) {
    const int64_t c = grp * lp.Cg + cl;
    const int64_t* offs = tapOff + cl * RS;
    tapRuns(offs, RS, nPos, runs);
    const int64_t lenP = runs.total;
    const int64_t D = lp.start[c + 1] - lp.start[c], Dp = paddedCodes(D);
    const uint8_t* codes = lp.codes + lp.start[c];
    const bool fromLayer = planesFromLayerTable(lp, c, D, lenP);
    const uint16_t* byActivation = lp.byActivation;
    int64_t rowLen = lp.rowsP;  // the table's row length (codes per activation)
    if (!fromLayer) {           // the channel's own table: prepared for the layer, or built here
      rowLen = Dp;
      if (lp.tableAt != nullptr && lp.tableAt[c] >= 0) {
        byActivation = lp.tables + lp.tableAt[c];
      } else {
        if (table.size() < size_t(256 * Dp)) table.resize(size_t(256 * Dp));
        channelTableWith<Transposer>(lut.rowsU16, codes, D, table.data());
        byActivation = table.data();
      }
    }
    // 16 elements of slack: an adder may read whole 16-position vectors past nPos.
    if (planes.size() < size_t(rowLen * lenP + 16)) planes.resize(size_t(rowLen * lenP + 16));
    for (int r = 0; r < runs.n; r++) {
      const uint8_t* src = base + pos0 + runs.lo[r];
      uint16_t* dst = planes.data() + runs.at[r];
      for (int64_t j0 = 0; j0 < runs.len[r]; j0 += W) {
        for (int i = 0; i < W; i++) at[i] = byActivation + size_t(src[j0 + i]) * rowLen;
        for (int64_t d0 = 0; d0 < rowLen; d0 += W) Transposer::tile(at, d0, dst + d0 * lenP + j0, lenP);
      }
    }
    for (int64_t m = m0; m < m1; m++) {
      const uint8_t* idx = lp.plane + (m * lp.Cg + cl) * RS;
      for (int k = 0; k < RS; k++)
        streams[k] = planes.data() + int64_t(fromLayer ? codes[idx[k]] : idx[k]) * lenP + runs.at[runs.of[k]] + (offs[k] - runs.lo[runs.of[k]]);
      Add(streams, RS, nPos, out + (m - m0) * lp.outStride);
    }
  }
  const uint32_t offset = uint32_t(lp.Cg * RS) * lut.minValue;
  for (int64_t m = m0; m < m1; m++)
    for (int i = 0; i < nPos; i++) out[(m - m0) * lp.outStride + i] += offset;
}

#if defined(__GNUC__) && (defined(__SSE2__) || defined(__ARM_NEON))
// 8 x 8 uint16 tiles in 128-bit vectors (GCC / Clang vector extensions: SSE2 unpacks on x86-64's
// baseline, zip on NEON): three interleave stages of 16-, 32- and 64-bit elements. Where no
// 128-bit vectors exist the level keeps the lookup transform (LutCosts::planeTranspose 0).
#define AXNN_TRANSPOSE8 1
struct Transpose8 {
  static constexpr int kLanes = 8;
  typedef uint16_t U16 __attribute__((vector_size(16)));
  typedef uint32_t U32 __attribute__((vector_size(16)));
  typedef uint64_t U64 __attribute__((vector_size(16)));
  static void tile(const uint16_t* const* at, int64_t offset, uint16_t* dst, int64_t stride) {
    U16 r[8];
    for (int i = 0; i < 8; i++) std::memcpy(&r[i], at[i] + offset, 16);
    U32 u[8];
    for (int i = 0; i < 8; i += 2) {  // 16-bit interleave of row pairs
      u[i] = U32(__builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 2, 10, 3, 11));
      u[i + 1] = U32(__builtin_shufflevector(r[i], r[i + 1], 4, 12, 5, 13, 6, 14, 7, 15));
    }
    U64 v[8];
    for (int b = 0; b < 8; b += 4) {  // 32-bit interleave within each half
      v[b] = U64(__builtin_shufflevector(u[b], u[b + 2], 0, 4, 1, 5));
      v[b + 1] = U64(__builtin_shufflevector(u[b], u[b + 2], 2, 6, 3, 7));
      v[b + 2] = U64(__builtin_shufflevector(u[b + 1], u[b + 3], 0, 4, 1, 5));
      v[b + 3] = U64(__builtin_shufflevector(u[b + 1], u[b + 3], 2, 6, 3, 7));
    }
    for (int j = 0; j < 4; j++) {  // 64-bit interleave of the halves: output rows 2j and 2j + 1
      const U64 lo = __builtin_shufflevector(v[j], v[j + 4], 0, 2), hi = __builtin_shufflevector(v[j], v[j + 4], 1, 3);
      std::memcpy(dst + (2 * j) * stride, &lo, 16);
      std::memcpy(dst + (2 * j + 1) * stride, &hi, 16);
    }
  }
};

[[maybe_unused]] void lutPlanesTranspose8(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0,
                                          int64_t m1, int64_t pos0, int nPos, uint32_t* out) {
  lutPlanesU16With<Transpose8>(base, tapOff, lp, lut, grp, m0, m1, pos0, nPos, out);
}
[[maybe_unused]] void channelTableTranspose8(const uint16_t* rowsU16, const uint8_t* codes, int64_t D, uint16_t* table) {
  channelTableWith<Transpose8>(rowsU16, codes, D, table);
}
#endif

}  // namespace
