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

template <typename S>
inline void addStreams(const S* const* s, int n, int nPos, uint32_t* acc) {
  while (n > 0) {
    switch (n) {
      case 1: addStreamsN<1>(s, nPos, acc); return;
      case 2: addStreamsN<2>(s, nPos, acc); return;
      case 3: addStreamsN<3>(s, nPos, acc); return;
      case 4: addStreamsN<4>(s, nPos, acc); return;
      case 5: addStreamsN<5>(s, nPos, acc); return;
      case 6: addStreamsN<6>(s, nPos, acc); return;
      case 7: addStreamsN<7>(s, nPos, acc); return;
      case 8: addStreamsN<8>(s, nPos, acc); return;
      case 9: addStreamsN<9>(s, nPos, acc); return;
      default: addStreamsN<8>(s, nPos, acc); s += 8; n -= 8;
    }
  }
}

// Per input channel (at most kMaxPlaneTaps taps each, lut_planes.cc checks): its activations [pos0 + lo, pos0 + nPos + hi) (lo, hi: the smallest and
// largest of its taps' offsets) through the row of each distinct weight code of the channel,
// then for every output channel the R x S shifted transformed runs added to its accumulators.
template <void (*Transform)(const uint32_t*, const uint8_t*, int64_t, uint32_t*)>
void lutPlanesWith(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0, int64_t m1,
                   int64_t pos0, int nPos, uint32_t* out) {
  const uint32_t* rows = reinterpret_cast<const uint32_t*>(lut.rowsI32);
  const int RS = int(lp.RS);
  thread_local std::vector<uint32_t> planes;
  const uint32_t* streams[kMaxPlaneTaps];
  for (int64_t m = m0; m < m1; m++) std::memset(out + (m - m0) * kMaxBlock, 0, sizeof(uint32_t) * nPos);
  for (int64_t cl = 0; cl < lp.Cg; cl++) {
    const int64_t c = grp * lp.Cg + cl;
    const int64_t* offs = tapOff + cl * RS;
    const auto [lo, hi] = tapSpan(offs, RS);
    const int64_t len = nPos + (hi - lo);
    const int64_t D = lp.start[c + 1] - lp.start[c];
    if (planes.size() < size_t(D * len)) planes.resize(size_t(D * len));
    const uint8_t* src = base + pos0 + lo;
    const uint8_t* codes = lp.codes + lp.start[c];
    for (int64_t d = 0; d < D; d++) Transform(rows + size_t(codes[d]) * 256, src, len, planes.data() + d * len);
    for (int64_t m = m0; m < m1; m++) {
      const uint8_t* idx = lp.plane + (m * lp.Cg + cl) * RS;
      for (int k = 0; k < RS; k++) streams[k] = planes.data() + int64_t(idx[k]) * len + (offs[k] - lo);
      addStreams(streams, RS, nPos, out + (m - m0) * kMaxBlock);
    }
  }
}

[[maybe_unused]] void lutPlanesGeneric(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0, int64_t m1,
                                       int64_t pos0, int nPos, uint32_t* out) {
  lutPlanesWith<transformRowGeneric>(base, tapOff, lp, lut, grp, m0, m1, pos0, nPos, out);
}

}  // namespace
