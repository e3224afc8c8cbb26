// AVX2 cores (compiled with -mavx2 -mfma): the exact, float and plane-transform LUT cores of
// generic_cores.h, auto-vectorised for 256-bit registers, and a plane-transform core of its own
// for tables whose products fit 16 bits (lutPlanesAvx2 below). The direct LUT core is the
// portable one: 32-bit gathers (vpgatherdd, 8 lookups each) measured 1.3x to 2.5x slower than its
// scalar lookups with register accumulators on Zen 4, so there is no gather core.
#include <immintrin.h>

#include "generic_cores.h"
#include "gemm_micro.h"

namespace {

// Transposes 16 rows of 16 uint16 in place: three unpack stages within the 128-bit lanes (8x8
// transposes of both halves), then the lanes exchanged.
inline void transpose16(__m256i r[16]) {
  __m256i u[16], v[16];
  for (int i = 0; i < 16; i += 2) {
    u[i] = _mm256_unpacklo_epi16(r[i], r[i + 1]);
    u[i + 1] = _mm256_unpackhi_epi16(r[i], r[i + 1]);
  }
  for (int b = 0; b < 16; b += 4) {
    v[b] = _mm256_unpacklo_epi32(u[b], u[b + 2]);
    v[b + 1] = _mm256_unpackhi_epi32(u[b], u[b + 2]);
    v[b + 2] = _mm256_unpacklo_epi32(u[b + 1], u[b + 3]);
    v[b + 3] = _mm256_unpackhi_epi32(u[b + 1], u[b + 3]);
  }
  for (int h = 0; h < 16; h += 8) {
    for (int j = 0; j < 4; j++) {
      u[h + 2 * j] = _mm256_unpacklo_epi64(v[h + j], v[h + j + 4]);
      u[h + 2 * j + 1] = _mm256_unpackhi_epi64(v[h + j], v[h + j + 4]);
    }
  }
  for (int c = 0; c < 8; c++) {
    r[c] = _mm256_permute2x128_si256(u[c], u[8 + c], 0x20);
    r[c + 8] = _mm256_permute2x128_si256(u[c], u[8 + c], 0x31);
  }
}

// A channel's table by activation (kernels.h, LutPlanesTable): 16x16 transposes of its codes' rows.
void channelTableAvx2(const uint16_t* rowsU16, const uint8_t* codes, int64_t D, uint16_t* table) {
  const int64_t Dp = paddedCodes(D);
  const uint16_t* at[16];
  __m256i r[16];
  for (int64_t d0 = 0; d0 < Dp; d0 += 16) {
    for (int i = 0; i < 16; i++) at[i] = rowsU16 + size_t(codes[std::min<int64_t>(d0 + i, D - 1)]) * 256;
    for (int a0 = 0; a0 < 256; a0 += 16) {
      for (int i = 0; i < 16; i++) r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at[i] + a0));
      transpose16(r);
      for (int t = 0; t < 16; t++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(table + (a0 + t) * Dp + d0), r[t]);
    }
  }
}

// The plane-transform core for tables whose products fit 16 bits (lut.rowsU16: product - min).
// Per input channel, instead of one scalar lookup per (distinct code, position):
//  1. a table by activation T[a][d]: the layer's (lp.byActivation, every code up to rowsP), or
//     when the channel uses few codes, its own for its D distinct codes (padded to Dp, a multiple
//     of 16: 16x16 transposes of the codes' rows), whichever transposes less (planesFromLayerTable);
//  2. the transformed planes, planes[d][j] = T[x_j][d]: for 16 positions, their 16 rows of T
//     (contiguous loads), transposed 16 codes at a time;
//  3. per output channel, its taps' shifted 16-bit planes added into the uint32 accumulators.
// Every tap contributed product - min, so K * min is added at the end (mod 2^32, as the reference).
void lutPlanesAvx2(const uint8_t* base, const int64_t* tapOff, const LutPlanes& lp, const LutCtx& lut, int64_t grp, int64_t m0, int64_t m1,
                   int64_t pos0, int nPos, uint32_t* out) {
  if (!lut.rowsU16) {
    lutPlanesGeneric(base, tapOff, lp, lut, grp, m0, m1, pos0, nPos, out);
    return;
  }
  const int RS = int(lp.RS);
  thread_local std::vector<uint16_t> table, planes;
  const uint16_t* streams[kMaxPlaneTaps];
  const uint16_t* at[16];
  __m256i r[16];
  for (int64_t m = m0; m < m1; m++) std::memset(out + (m - m0) * kMaxBlock, 0, sizeof(uint32_t) * nPos);
  for (int64_t cl = 0; cl < lp.Cg; cl++) {
    const int64_t c = grp * lp.Cg + cl;
    const int64_t* offs = tapOff + cl * RS;
    const auto [lo, hi] = tapSpan(offs, RS);
    const int64_t len = nPos + (hi - lo), lenP = (len + 15) & ~int64_t(15);
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
        channelTableAvx2(lut.rowsU16, codes, D, table.data());
        byActivation = table.data();
      }
    }
    if (planes.size() < size_t(rowLen * lenP)) planes.resize(size_t(rowLen * lenP));
    // Reads up to 15 activations past the run: the drivers keep kTailElements readable.
    const uint8_t* src = base + pos0 + lo;
    for (int64_t j0 = 0; j0 < lenP; j0 += 16) {
      for (int i = 0; i < 16; i++) at[i] = byActivation + size_t(src[j0 + i]) * rowLen;
      for (int64_t d0 = 0; d0 < rowLen; d0 += 16) {
        for (int i = 0; i < 16; i++) r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at[i] + d0));
        transpose16(r);
        for (int t = 0; t < 16; t++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(planes.data() + (d0 + t) * lenP + j0), r[t]);
      }
    }
    for (int64_t m = m0; m < m1; m++) {
      const uint8_t* idx = lp.plane + (m * lp.Cg + cl) * RS;
      for (int k = 0; k < RS; k++) streams[k] = planes.data() + int64_t(fromLayer ? codes[idx[k]] : idx[k]) * lenP + (offs[k] - lo);
      addStreams(streams, RS, nPos, out + (m - m0) * kMaxBlock);
    }
  }
  const uint32_t offset = uint32_t(lp.Cg * RS) * lut.minValue;
  for (int64_t m = m0; m < m1; m++)
    for (int i = 0; i < nPos; i++) out[(m - m0) * kMaxBlock + i] += offset;
}

}  // namespace

namespace axnn {
constexpr LutCosts kAvx2LutCosts{{1.0, 1.0, 1.0, 1.0}, 0.7, 0.15, 0.15};
Cores avx2Cores() { return Cores{"avx2", lutGeneric, lutPlanesAvx2, kAvx2LutCosts, exactGeneric, floatGeneric, gemmMicro<VecAvx2, 6, 2, 4>(), axpyGeneric, dotGeneric,
                                channelTableAvx2}; }
}  // namespace axnn
